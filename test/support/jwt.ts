import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import { omit } from './objects.js';

/** Client JWTs signed with the committed development key (fixtures/keys, not for production). */

export const DEV_ISS = 'https://dev-client.crd.invalid';
export const DEV_JWK = JSON.parse(
  readFileSync(new URL('../../fixtures/keys/dev-client.private.jwk.json', import.meta.url), 'utf8'),
) as JWK;

export interface TokenOptions {
  readonly aud: string;
  readonly claims?: JWTPayload;
  readonly header?: Record<string, unknown>;
  readonly key?: JWK;
  readonly alg?: string;
  readonly omit?: readonly string[];
  readonly nowSec?: number;
}

export async function clientJwt(o: TokenOptions): Promise<string> {
  const key = o.key ?? DEV_JWK;
  const alg = o.alg ?? 'ES384';
  const now = o.nowSec ?? Math.floor(new Date('2026-11-23T12:00:00Z').getTime() / 1000);
  const all: JWTPayload = { iss: DEV_ISS, aud: o.aud, iat: now, exp: now + 300, jti: randomUUID(), ...o.claims };
  const claims = omit(all, ...(o.omit ?? []));
  return new SignJWT(claims)
    .setProtectedHeader({ alg, typ: 'JWT', kid: key.kid ?? 'dev-client-es384-1', ...o.header })
    .sign(await importJWK(key, alg));
}

export const SERVICE_URL = 'http://localhost:3000/cds-services/cryoablation-order-sign';
