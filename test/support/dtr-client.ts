import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importJWK, SignJWT, type JWK } from 'jose';
import request from 'supertest';
import type { Server } from 'node:http';
import { CLIENT_ASSERTION_TYPE } from '../../src/auth/backend-services.js';
import { tempDataDir } from './app.js';
import { testKeyPair } from './keys.js';

/** A SMART Backend Services client for the tests: its trusted-clients file, its key, its token requests. */

export const DTR_CLIENT = 'https://dtr-client.test.invalid';
export const PACKAGE_PATH = '/fhir/Questionnaire/$questionnaire-package';

export interface DtrClient {
  readonly iss: string;
  readonly priv: JWK;
  /** A trusted-clients file that trusts this client (and nothing else). */
  readonly trustedClientsFile: string;
}

export function dtrClient(): DtrClient {
  const { pub, priv } = testKeyPair('RS384', 'dtr-rs384-1');
  const trustedClientsFile = join(tempDataDir(), 'trusted-clients.json');
  writeFileSync(trustedClientsFile, JSON.stringify({ clients: [{ iss: DTR_CLIENT, jwks: { keys: [pub] } }] }));
  return { iss: DTR_CLIENT, priv, trustedClientsFile };
}

/** A private_key_jwt client assertion (SMART Backend Services) for the token endpoint `aud`. */
export async function clientAssertion(client: DtrClient, aud: string, nowSec: number): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS384', kid: client.priv.kid ?? 'dtr-rs384-1', typ: 'JWT' })
    .setIssuer(client.iss)
    .setSubject(client.iss)
    .setAudience(aud)
    .setIssuedAt(nowSec)
    .setExpirationTime(nowSec + 240)
    .setJti(randomUUID())
    .sign(await importJWK(client.priv, 'RS384'));
}

/** What a DTR client does first: smart-configuration, then client_credentials at its token endpoint. */
/** `server` is one listening server, so the URL smart-configuration names (development: the URL called) stays the same. */
export async function accessToken(
  app: Server,
  client: DtrClient,
  nowSec: number,
  scope = 'system/Questionnaire.rs',
): Promise<string> {
  const smart = await request(app).get('/.well-known/smart-configuration');
  if (smart.status !== 200) throw new Error(`smart-configuration: ${smart.status}`);
  const endpoint = String(smart.body.token_endpoint);
  const res = await request(app)
    .post(new URL(endpoint).pathname)
    .type('form')
    .send({
      grant_type: 'client_credentials',
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: await clientAssertion(client, endpoint, nowSec),
      scope,
    });
  if (res.status !== 200) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`);
  return String(res.body.access_token);
}

export function postPackage(app: Server, body: unknown, token?: string) {
  const r = request(app).post(PACKAGE_PATH).set('Content-Type', 'application/fhir+json');
  if (token) r.set('Authorization', `Bearer ${token}`);
  return r.send(typeof body === 'string' ? body : JSON.stringify(body));
}
