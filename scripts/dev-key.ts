/**
 * The committed development client (fixtures/keys, NOT FOR PRODUCTION): its private key, and the issuer that
 * config/trusted-clients.dev.json trusts it under. Used by `npm run token` and `npm run replay`.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importJWK, SignJWT, type JWK } from 'jose';
import { CliError, isRecord, readJsonFile } from './cli.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PRIVATE_KEY = resolve(ROOT, 'fixtures/keys/dev-client.private.jwk.json');
const PUBLIC_KEYS = resolve(ROOT, 'fixtures/keys/dev-client.jwks.json');
const DEV_CLIENTS = resolve(ROOT, 'config/trusted-clients.dev.json');
/** Life of a minted token: the default maxTokenLifetimeSec of a trusted client. */
export const TOKEN_LIFETIME_SEC = 300;

export interface DevKey {
  readonly iss: string;
  readonly kid: string;
  readonly alg: string;
  readonly jwk: JWK;
}

/** The issuer whose jwksFile is the development public key set, in the development clients file. */
function devIssuer(): string {
  const file = readJsonFile(DEV_CLIENTS);
  const clients = isRecord(file) && Array.isArray(file['clients']) ? file['clients'] : [];
  const entry: unknown = clients.find(
    (c: unknown) =>
      isRecord(c) && typeof c['jwksFile'] === 'string' && resolve(dirname(DEV_CLIENTS), c['jwksFile']) === PUBLIC_KEYS,
  );
  if (!isRecord(entry) || typeof entry['iss'] !== 'string')
    throw new CliError(`${DEV_CLIENTS} has no client for ${PUBLIC_KEYS}`);
  return entry['iss'];
}

export function devKey(): DevKey {
  const jwk = JSON.parse(readFileSync(PRIVATE_KEY, 'utf8')) as JWK;
  if (typeof jwk.kid !== 'string' || typeof jwk.alg !== 'string')
    throw new CliError(`${PRIVATE_KEY} needs kid and alg`);
  return { iss: devIssuer(), kid: jwk.kid, alg: jwk.alg, jwk };
}

/** A client JWT for `aud` (the exact URL to be called): short-lived, with a fresh jti. */
export async function devToken(
  aud: string,
  nowSec = Math.floor(Date.now() / 1000),
  key: DevKey = devKey(),
): Promise<string> {
  return new SignJWT({ iss: key.iss, aud, iat: nowSec, exp: nowSec + TOKEN_LIFETIME_SEC, jti: randomUUID() })
    .setProtectedHeader({ alg: key.alg, typ: 'JWT', kid: key.kid })
    .sign(await importJWK(key.jwk, key.alg));
}
