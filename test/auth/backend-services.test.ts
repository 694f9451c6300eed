import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  CLIENT_ASSERTION_TYPE,
  ephemeralSigningKey,
  smartConfiguration,
  tokenService,
  type TokenService,
} from '../../src/auth/backend-services.js';
import { trustedClients, type TrustedClient } from '../../src/auth/trusted-clients.js';

const TOKEN_URL = 'https://payer.example/auth/token';
const FHIR = 'https://payer.example/fhir';
const CLIENT = 'https://dtr-client.example';
let t = Date.parse('2026-12-01T15:00:00Z');
const now = () => t;

let clients: TrustedClient[];
let clientKey: CryptoKey;
let strangerKey: CryptoKey;
let service: TokenService;

beforeAll(async () => {
  const pair = await generateKeyPair('ES384', { extractable: true });
  clientKey = pair.privateKey;
  strangerKey = (await generateKeyPair('ES384')).privateKey;
  const dir = mkdtempSync(join(tmpdir(), 'bs-clients-'));
  const file = join(dir, 'clients.json');
  writeFileSync(
    file,
    JSON.stringify({
      clients: [{ iss: CLIENT, jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES384' }] } }],
    }),
  );
  const loaded = trustedClients(file);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  clients = loaded.clients;
  service = tokenService({
    clients,
    tokenEndpoint: TOKEN_URL,
    fhirBase: FHIR,
    signingKey: await ephemeralSigningKey(),
    now,
  });
});

interface AssertionParts {
  iss?: string;
  sub?: string;
  aud?: string;
  expIn?: number;
  jti?: string;
  key?: CryptoKey;
  kid?: string;
}
let counter = 0;
async function assertion(p: AssertionParts = {}): Promise<string> {
  const sec = Math.floor(t / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES384', kid: p.kid ?? 'k1', typ: 'JWT' })
    .setIssuer(p.iss ?? CLIENT)
    .setSubject(p.sub ?? p.iss ?? CLIENT)
    .setAudience(p.aud ?? TOKEN_URL)
    .setExpirationTime(sec + (p.expIn ?? 240))
    .setJti(p.jti ?? `jti-${++counter}`)
    .sign(p.key ?? clientKey);
}

const form = async (over: Record<string, string | undefined> = {}, parts: AssertionParts = {}) => ({
  grant_type: 'client_credentials',
  client_assertion_type: CLIENT_ASSERTION_TYPE,
  client_assertion: await assertion(parts),
  scope: 'system/Questionnaire.rs',
  ...over,
});

describe('the token endpoint', () => {
  test('issues a short-lived bearer token for a valid assertion', async () => {
    const r = await service.token(await form());
    expect(r).toMatchObject({
      ok: true,
      status: 200,
      body: { token_type: 'bearer', expires_in: 300, scope: 'system/Questionnaire.rs' },
      clientId: CLIENT,
    });
    if (!r.ok) return;
    expect(await service.verifyAccessToken(`Bearer ${r.body.access_token}`)).toEqual({
      ok: true,
      clientId: CLIENT,
      scopes: ['system/Questionnaire.rs'],
    });
  });

  test.each<[string, Record<string, string | undefined>, AssertionParts, number, string, RegExp]>([
    ['no grant_type', { grant_type: undefined }, {}, 400, 'invalid_request', /grant_type/],
    ['another grant', { grant_type: 'authorization_code' }, {}, 400, 'unsupported_grant_type', /client_credentials/],
    ['wrong assertion type', { client_assertion_type: 'x' }, {}, 400, 'invalid_request', /jwt-bearer/],
    ['no assertion', { client_assertion: undefined }, {}, 400, 'invalid_request', /client_assertion/],
    ['garbage assertion', { client_assertion: 'abc' }, {}, 401, 'invalid_client', /JWS/],
    ['unknown client', {}, { iss: 'https://nobody.example' }, 401, 'invalid_client', /not a registered client/],
    ['signed by another key', {}, { key: undefined, kid: 'k1' }, 401, 'invalid_client', /signature/],
    ['unknown kid', {}, { kid: 'k9' }, 401, 'invalid_client', /kid/],
    ['aud is not the token endpoint', {}, { aud: FHIR }, 401, 'invalid_client', /token endpoint URL/],
    ['sub is not iss', {}, { sub: 'someone-else' }, 401, 'invalid_client', /sub must equal iss/],
    ['exp more than 5 minutes ahead', {}, { expIn: 3600 }, 401, 'invalid_client', /at most 300 seconds/],
    ['expired', {}, { expIn: -120 }, 401, 'invalid_client', /expired/],
    ['no scope', { scope: undefined }, {}, 400, 'invalid_scope', /scope is required/],
    ['unsupported scope', { scope: 'system/Patient.rs' }, {}, 400, 'invalid_scope', /system\/Patient.rs/],
  ])('%s', async (name, over, parts, status, error, description) => {
    const effective = name === 'signed by another key' ? { ...parts, key: strangerKey } : parts;
    const r = await service.token(await form(over, effective));
    expect(r.ok).toBe(false);
    expect(r.status).toBe(status);
    if (!r.ok) {
      expect(r.body.error).toBe(error);
      expect(r.body.error_description).toMatch(description);
    }
  });

  test('a replayed jti is refused', async () => {
    const f = await form({}, { jti: 'once' });
    expect((await service.token(f)).ok).toBe(true);
    const again = await service.token(f);
    expect(again).toMatchObject({ ok: false, status: 400, body: { error: 'invalid_grant' } });
  });

  test('the replay check can be the store', async () => {
    const seen: string[] = [];
    const s = tokenService({
      clients,
      tokenEndpoint: TOKEN_URL,
      fhirBase: FHIR,
      signingKey: await ephemeralSigningKey(),
      now,
      claimJti: (c) => Promise.resolve(seen.includes(c.jti) ? 'replay' : (seen.push(c.jti), 'accepted')),
    });
    const f = await form({}, { jti: 'shared' });
    expect((await s.token(f)).ok).toBe(true);
    expect(seen).toEqual(['shared']);
    expect((await s.token(f)).ok).toBe(false);
  });
});

describe('verifyAccessToken (RFC 6750)', () => {
  test('no header: 401 with a bare challenge', async () => {
    const r = await service.verifyAccessToken(undefined);
    expect(r).toMatchObject({ ok: false, status: 401, wwwAuthenticate: 'Bearer realm="dtr"' });
  });

  test('not a bearer header: invalid_request', async () => {
    const r = await service.verifyAccessToken('Basic abc');
    expect(r).toMatchObject({ ok: false, status: 401 });
    if (!r.ok) expect(r.wwwAuthenticate).toMatch(/^Bearer realm="dtr", error="invalid_request", error_description="/);
  });

  test('a CDS client JWT or any foreign token: invalid_token', async () => {
    const r = await service.verifyAccessToken(`Bearer ${await assertion()}`);
    expect(r).toMatchObject({ ok: false, status: 401 });
    if (!r.ok)
      expect(r.wwwAuthenticate).toMatch(
        /error="invalid_token", error_description="the access token is not one this service issued"/,
      );
  });

  test('another instance with its own ephemeral key does not accept it; a shared key does', async () => {
    const r = await service.token(await form());
    if (!r.ok) throw new Error('no token');
    const other = tokenService({
      clients,
      tokenEndpoint: TOKEN_URL,
      fhirBase: FHIR,
      signingKey: await ephemeralSigningKey(),
      now,
    });
    expect((await other.verifyAccessToken(`Bearer ${r.body.access_token}`)).ok).toBe(false);
  });

  test('expired: invalid_token', async () => {
    const r = await service.token(await form());
    if (!r.ok) throw new Error('no token');
    const saved = t;
    t += 301_000 + 30_000;
    const v = await service.verifyAccessToken(`Bearer ${r.body.access_token}`);
    t = saved;
    expect(v).toMatchObject({ ok: false, status: 401, reason: 'the access token has expired' });
  });

  test('a scope the request does not allow: 403 insufficient_scope', async () => {
    const r = await service.token(await form());
    if (!r.ok) throw new Error('no token');
    const v = await service.verifyAccessToken(`Bearer ${r.body.access_token}`, ['system/QuestionnaireResponse.cu']);
    expect(v).toMatchObject({ ok: false, status: 403 });
    if (!v.ok)
      expect(v.wwwAuthenticate).toMatch(/error="insufficient_scope".*scope="system\/QuestionnaireResponse.cu"/);
  });
});

test('smart-configuration names the token endpoint and Backend Services', () => {
  const c = smartConfiguration({ tokenEndpoint: TOKEN_URL, scopesSupported: ['system/Questionnaire.rs'] });
  expect(c).toMatchObject({
    token_endpoint: TOKEN_URL,
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    grant_types_supported: ['client_credentials'],
    scopes_supported: ['system/Questionnaire.rs'],
  });
  expect(c['token_endpoint_auth_signing_alg_values_supported']).toEqual(expect.arrayContaining(['RS384', 'ES384']));
  expect(c['capabilities']).toContain('client-confidential-asymmetric');
});

test("instances sharing a key from a JWK accept each other's tokens", async () => {
  const { signingKeyFromJwk } = await import('../../src/auth/backend-services.js');
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'shared-1' };
  const a = tokenService({
    clients,
    tokenEndpoint: TOKEN_URL,
    fhirBase: FHIR,
    signingKey: await signingKeyFromJwk(jwk),
    now,
  });
  const b = tokenService({
    clients,
    tokenEndpoint: TOKEN_URL,
    fhirBase: FHIR,
    signingKey: await signingKeyFromJwk(jwk),
    now,
  });
  const r = await a.token(await form());
  if (!r.ok) throw new Error('no token');
  expect((await b.verifyAccessToken(`Bearer ${r.body.access_token}`)).ok).toBe(true);
  await expect(signingKeyFromJwk({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y })).rejects.toThrow(/private/);
});
