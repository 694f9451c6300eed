import { createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { Writable } from 'node:stream';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { authenticator } from '../../src/auth/client-auth.js';
import { trustedClients } from '../../src/auth/trusted-clients.js';
import { createApp } from '../../src/server/app.js';
import { configFrom } from '../../src/server/config.js';
import { createLogger } from '../../src/server/logger.js';
import { appServices, shippedRegistry } from '../support/app.js';
import { request as fixtureRequest } from '../support/fixtures.js';
import { clientJwt, DEV_ISS, SERVICE_URL } from '../support/jwt.js';
import { testKeyPair } from '../support/keys.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The JWT matrix: each way a client token can be right or wrong, its own test. */

const SERVICE = '/cds-services/cryoablation-order-sign';
const NOW = new Date('2026-11-23T12:00:00Z');
const nowSec = Math.floor(NOW.getTime() / 1000);
const body = fixtureRequest('renal-cryoablation-prefetched.json');

interface Keys {
  es384: JWK;
  rs384: JWK;
  rs256: JWK;
  pubs: JWK[];
}
let keys: Keys;
let logText = '';

/** The run's shared test keys (generated once per run, test/support/keys.ts). */
function pair(alg: 'ES384' | 'RS384' | 'RS256', kid: string) {
  return testKeyPair(alg, kid);
}

/** A key no client has (EC: quick to make). */
async function freshPair(alg: 'ES384', kid: string) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { pub: { ...(await exportJWK(publicKey)), kid, alg }, priv: { ...(await exportJWK(privateKey)), kid, alg } };
}

function appWith(clients: object[], extra: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'clients-'));
  const file = join(dir, 'clients.json');
  writeFileSync(file, JSON.stringify({ clients }));
  const loaded = trustedClients(file);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      logText += c.toString();
      cb();
    },
  });
  const config = configFrom({ CDS_AUTH: 'on', ...extra });
  return createApp({
    config,
    registry: shippedRegistry(),
    logger: createLogger('info', sink),
    now: () => NOW,
    ...appServices(config),
    authenticator: authenticator({
      clients: loaded.clients,
      clockSkewSec: config.clockSkewSec,
      now: () => NOW.getTime(),
    }),
  });
}

const CLIENT = 'https://ehr.example.org';
let app: ReturnType<typeof appWith>;

beforeAll(() => {
  const es = pair('ES384', 'k-es384');
  const rs = pair('RS384', 'k-rs384');
  const rs256 = pair('RS256', 'k-rs256');
  keys = { es384: es.priv, rs384: rs.priv, rs256: rs256.priv, pubs: [es.pub, rs.pub, rs256.pub] };
  app = appWith([{ iss: CLIENT, jwks: { keys: keys.pubs }, jku: ['https://ehr.example.org/jwks'] }]);
});

async function token(
  o: {
    key?: JWK;
    alg?: string;
    claims?: Record<string, unknown>;
    header?: Record<string, unknown>;
    omit?: string[];
  } = {},
) {
  return clientJwt({
    aud: SERVICE_URL,
    key: o.key ?? keys.es384,
    alg: o.alg ?? 'ES384',
    claims: { iss: CLIENT, ...o.claims },
    header: o.header ?? {},
    omit: o.omit ?? [],
    nowSec,
  });
}

/** Calls the service with a fresh log; waits for the request's log line (written when the exchange closes). */
async function call(authorization: string | undefined, path = SERVICE) {
  logText = '';
  const r = request(app).post(path).send(body);
  const res = await (authorization === undefined ? r : r.set('Authorization', authorization));
  await new Promise((done) => setTimeout(done, 20));
  return res;
}

/** A JWS signed by hand, for headers jose will not sign (crit). */
function handSigned(header: Record<string, unknown>, claims: Record<string, unknown>, jwk: JWK): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc(header)}.${enc(claims)}`;
  const key = createPrivateKey({ key: jwk as never, format: 'jwk' });
  return `${input}.${cryptoSign('sha384', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

function lastFailure(): string {
  const lines = logText
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return String(lines.reverse().find((l) => l['authFailure'])?.['authFailure']);
}

/**
 * The 401 (issue 9: refusals say why): RFC 6750 `error="invalid_token"` with an `error_description` that is also
 * the OperationOutcome's diagnostics; a request without credentials gets the bare challenge.
 */
function expect401(res: request.Response, reason?: RegExp, description?: RegExp) {
  if (reason) expect(lastFailure()).toMatch(reason);
  expect(res.status).toBe(401);
  const challenge = String(res.headers['www-authenticate']);
  expect(challenge).toMatch(/^Bearer realm="cds-services"/);
  expect(res.body).toEqual({
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'login', diagnostics: expect.any(String) }],
  });
  const diagnostics = res.body.issue[0].diagnostics as string;
  const sentAuthorization = (
    res as unknown as { req: { getHeader(name: string): number | string | string[] | undefined } }
  ).req.getHeader('authorization');
  expect(diagnostics.length).toBeLessThan(500);
  if (sentAuthorization === undefined) expect(challenge).toBe('Bearer realm="cds-services"');
  else expect(challenge).toBe(`Bearer realm="cds-services", error="invalid_token", error_description="${diagnostics}"`);
  if (description) expect(diagnostics).toMatch(description);
  const sent = String(sentAuthorization ?? '').replace(/^\S+\s+/, '');
  if (sent.length > 20)
    for (const part of sent.split('.').filter((p) => p.length > 20))
      expect(challenge + diagnostics).not.toContain(part);
}

describe('accepted', () => {
  test.each([
    ['ES384', () => token()],
    ['RS384', () => token({ key: keys.rs384, alg: 'RS384' })],
    ['RS256 (the CRD request generator)', () => token({ key: keys.rs256, alg: 'RS256' })],
  ])('a valid %s token', async (_n, make) => {
    const res = await call(`Bearer ${await make()}`);
    expect(res.status).toBe(200);
  });

  test('the development key, trusted by the development clients file', async () => {
    const dev = appWith([
      { iss: DEV_ISS, jwksFile: join(process.cwd(), 'fixtures/keys/dev-client.jwks.json'), development: true },
    ]);
    const res = await request(dev)
      .post(SERVICE)
      .set('Authorization', `Bearer ${await clientJwt({ aud: SERVICE_URL, nowSec })}`)
      .send(body);
    expect(res.status).toBe(200);
  });

  test('discovery and feedback need a token too, with their own URL as aud', async () => {
    expect401(await request(app).get('/cds-services'));
    const disco = await clientJwt({
      aud: 'http://localhost:3000/cds-services',
      key: keys.es384,
      claims: { iss: CLIENT },
      nowSec,
    });
    expect((await request(app).get('/cds-services').set('Authorization', `Bearer ${disco}`)).status).toBe(200);
    const fb = await clientJwt({ aud: `${SERVICE_URL}/feedback`, key: keys.es384, claims: { iss: CLIENT }, nowSec });
    const feedback = {
      feedback: [
        {
          card: 'c1',
          outcome: 'accepted',
          acceptedSuggestions: [{ id: 's1' }],
          outcomeTimestamp: '2026-11-23T12:00:00Z',
        },
      ],
    };
    expect(
      (await request(app).post(`${SERVICE}/feedback`).set('Authorization', `Bearer ${fb}`).send(feedback)).status,
    ).toBe(200);
  });

  test('policy pages, the Questionnaire, health and CORS preflights stay public', async () => {
    expect((await request(app).get('/policies/cryoablation')).status).toBe(200);
    expect((await request(app).get('/fhir/Questionnaire/cryoablation-medical-necessity')).status).toBe(200);
    expect((await request(app).get('/health')).status).toBe(200);
    const pre = await request(app)
      .options(SERVICE)
      .set('Origin', 'http://localhost:8080')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization');
    expect(pre.status).toBe(204);
  });
});

describe('rejected with 401', () => {
  test('alg none', async () => {
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid: 'k-es384' })).toString('base64url')}.${Buffer.from(
      JSON.stringify({ iss: CLIENT, aud: SERVICE_URL, iat: nowSec, exp: nowSec + 300, jti: 'x' }),
    ).toString('base64url')}.`;
    expect401(await call(`Bearer ${unsigned}`), /algorithm none/, /^alg 'none' is not allowed; accepted: ES384, RS384/);
  });

  test('HS256 signed with the public key as the secret', async () => {
    const pub = keys.pubs[0]!;
    const secret = new TextEncoder().encode(JSON.stringify(pub));
    const forged = await new SignJWT({ iss: CLIENT, aud: SERVICE_URL, iat: nowSec, exp: nowSec + 300, jti: 'hs' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: 'k-es384' })
      .sign(secret);
    expect401(await call(`Bearer ${forged}`), /algorithm HS256/, /^alg 'HS256' is not allowed/);
  });

  test('signed with a key the client does not have, under a known kid', async () => {
    const other = await freshPair('ES384', 'k-es384');
    expect401(
      await call(`Bearer ${await token({ key: other.priv })}`),
      /signature does not verify/,
      /^signature does not verify with key 'k-es384' of client 'https:\/\/ehr\.example\.org'$/,
    );
  });

  test('an unknown kid', async () => {
    expect401(
      await call(`Bearer ${await token({ header: { kid: 'nobody' } })}`),
      /kid not found/,
      /^kid 'nobody' is not among the keys of client 'https:\/\/ehr\.example\.org'$/,
    );
  });
  test('an unknown iss', async () =>
    expect401(
      await call(`Bearer ${await token({ claims: { iss: 'https://evil.example' } })}`),
      /issuer is not a trusted client/,
      /^iss 'https:\/\/evil\.example' is not a trusted client/,
    ));
  test('a jku that is not on the client allowlist', async () =>
    expect401(
      await call(`Bearer ${await token({ header: { jku: 'https://evil.example/jwks' } })}`),
      /jku/,
      /^jku 'https:\/\/evil\.example\/jwks' is not listed for client 'https:\/\/ehr\.example\.org' \(listed: 'https:\/\/ehr\.example\.org\/jwks'\)$/,
    ));
  test('expired', async () =>
    expect401(
      await call(`Bearer ${await token({ claims: { iat: nowSec - 1000, exp: nowSec - 600 } })}`),
      /expired/,
      /^token expired: exp 2026-11-23T11:50:00Z is past \(clock skew 60 s\)/,
    ));
  test('iat in the future', async () =>
    expect401(
      await call(`Bearer ${await token({ claims: { iat: nowSec + 3600, exp: nowSec + 3900 } })}`),
      /iat/,
      /^iat 2026-11-23T13:00:00Z is in the future/,
    ));
  test('a wrong aud', async () =>
    expect401(
      await call(`Bearer ${await token({ claims: { aud: 'http://localhost:3000/cds-services/another' } })}`),
      /claim aud/,
      /^aud does not match: expected 'http:\/\/127\.0\.0\.1:\d+\/cds-services\/cryoablation-order-sign' or 'http:\/\/localhost:3000\/cds-services\/cryoablation-order-sign' \(the URL called\)$/,
    ));
  test('no jti', async () =>
    expect401(await call(`Bearer ${await token({ omit: ['jti'] })}`), /claim jti/, /^claim jti is missing/));

  test('a replayed jti', async () => {
    const t = await token();
    expect((await call(`Bearer ${t}`)).status).toBe(200);
    expect401(await call(`Bearer ${t}`), /jti replayed/, /^jti replayed: this token was already used/);
  });

  test('a tampered payload', async () => {
    const [h, , s] = (await token()).split('.');
    const forged = Buffer.from(
      JSON.stringify({ iss: CLIENT, aud: SERVICE_URL, iat: nowSec, exp: nowSec + 99999, jti: 'tamper' }),
    ).toString('base64url');
    expect401(await call(`Bearer ${h}.${forged}.${s}`), /signature does not verify/);
  });

  test('a token that lives longer than the client allows', async () =>
    expect401(
      await call(`Bearer ${await token({ claims: { exp: nowSec + 86_400 * 365 } })}`),
      /lives longer than 300 s/,
      /^the token lives 31536000 s \(exp - iat\); client 'https:\/\/ehr\.example\.org' allows at most 300 s$/,
    ));
  test('a crit header', async () => {
    const claims = { iss: CLIENT, aud: SERVICE_URL, iat: nowSec, exp: nowSec + 300, jti: 'crit-1', exp2: 1 };
    const jws = handSigned({ alg: 'ES384', typ: 'JWT', kid: 'k-es384', crit: ['exp2'], exp2: 1 }, claims, keys.es384);
    expect401(await call(`Bearer ${jws}`), /crit headers are not supported/, /^crit headers are not supported$/);
  });
  test('a jti of 10 kB', async () =>
    expect401(
      await call(`Bearer ${await token({ claims: { jti: 'x'.repeat(10_000) } })}`),
      /jti must be a string/,
      /^jti must be a non-empty string of at most 256 characters$/,
    ));
  test('a jti that is not a string', async () =>
    expect401(await call(`Bearer ${await token({ claims: { jti: { a: 1 } } })}`), /jti must be a string|claim jti/));
  test('an aud with a trailing slash', async () =>
    expect401(await call(`Bearer ${await token({ claims: { aud: `${SERVICE_URL}/` } })}`), /claim aud/));
  test("a trusted iss signing with another trusted client's key", async () => {
    const two = appWith([
      { iss: CLIENT, jwks: { keys: [keys.pubs[0]] } },
      { iss: 'https://other-ehr.example.org', jwks: { keys: [keys.pubs[1]] } },
    ]);
    logText = '';
    const res = await request(two)
      .post(SERVICE)
      .set('Authorization', `Bearer ${await token({ key: keys.rs384, alg: 'RS384' })}`)
      .send(body);
    await new Promise((done) => setTimeout(done, 20));
    expect401(res, /kid not found/);
  });
  test('no Authorization header', async () =>
    expect401(
      await call(undefined),
      /no Authorization header/,
      /^no Authorization header: send Authorization: Bearer <client JWT>$/,
    ));
  test('Bearer with garbage', async () =>
    expect401(await call('Bearer not-a-jwt'), /not a Bearer JWT/, /is not Bearer followed by a signed JWT/));
  test('a Basic credential', async () => expect401(await call('Basic dXNlcjpwYXNz'), /not a Bearer JWT/));
});

describe('CDS_AUTH_ERRORS=minimal', () => {
  test('keeps error="invalid_token" without a description, and the bare challenge for a missing token', async () => {
    const minimal = appWith([{ iss: CLIENT, jwks: { keys: keys.pubs } }], { CDS_AUTH_ERRORS: 'minimal' });
    const refused = await request(minimal)
      .post(SERVICE)
      .set('Authorization', `Bearer ${await token({ header: { kid: 'nobody' } })}`)
      .send(body);
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="cds-services", error="invalid_token"');
    expect(refused.body.issue[0].diagnostics).toBe('Authentication required');
    const missing = await request(minimal).post(SERVICE).send(body);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="cds-services"');
  });
});

describe('per-client settings', () => {
  test('allowJtiReuse admits the same token twice (Inferno signs once per run)', async () => {
    // Issue 9: allowJtiReuse is for development clients only.
    const lenient = appWith([{ iss: CLIENT, jwks: { keys: keys.pubs }, allowJtiReuse: true, development: true }]);
    const t = await token();
    expect((await request(lenient).post(SERVICE).set('Authorization', `Bearer ${t}`).send(body)).status).toBe(200);
    expect((await request(lenient).post(SERVICE).set('Authorization', `Bearer ${t}`).send(body)).status).toBe(200);
  });

  test('an audience override admits the audience the EHR was configured with', async () => {
    const custom = appWith([{ iss: CLIENT, jwks: { keys: keys.pubs }, audience: 'urn:ehr:crd' }]);
    const t = await token({ claims: { aud: 'urn:ehr:crd' } });
    expect((await request(custom).post(SERVICE).set('Authorization', `Bearer ${t}`).send(body)).status).toBe(200);
  });

  test('a tenant allowlist refuses other tenants', async () => {
    const tenanted = appWith([{ iss: CLIENT, jwks: { keys: keys.pubs }, tenants: ['hospital-a'] }]);
    expect(
      (
        await request(tenanted)
          .post(SERVICE)
          .set('Authorization', `Bearer ${await token({ claims: { tenant: 'hospital-a' } })}`)
          .send(body)
      ).status,
    ).toBe(200);
    expect(
      (
        await request(tenanted)
          .post(SERVICE)
          .set('Authorization', `Bearer ${await token({ claims: { tenant: 'hospital-b' } })}`)
          .send(body)
      ).status,
    ).toBe(401);
  });

  test('the development file trusts the CDS Hooks Sandbox offline, as a development client (its private key is public)', () => {
    const dev = trustedClients(configFrom().trustedClientsFile);
    expect(dev.ok && dev.clients.map((c) => [c.iss, c.development])).toEqual(
      expect.arrayContaining([
        ['https://sandbox.cds-hooks.org', true],
        [DEV_ISS, true],
      ]),
    );
    expect(dev.ok && dev.clients.every((c) => c.development)).toBe(true);
  });
});

describe('a client whose keys are published at a jwksUrl', () => {
  test('the key set is fetched once, then served from the cache', async () => {
    let fetches = 0;
    const jwks = createServer((_req, res) => {
      fetches += 1;
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ keys: keys.pubs }));
    }).listen(0, '127.0.0.1');
    await once(jwks, 'listening');
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
    try {
      const remote = appWith([{ iss: CLIENT, jwksUrl }]);
      const first = await request(remote)
        .post(SERVICE)
        .set('Authorization', `Bearer ${await token({ header: { jku: jwksUrl } })}`)
        .send(body);
      const second = await request(remote)
        .post(SERVICE)
        .set('Authorization', `Bearer ${await token()}`)
        .send(body);
      expect([first.status, second.status]).toEqual([200, 200]);
      expect(fetches).toBe(1);
    } finally {
      await new Promise((r) => jwks.close(r));
    }
  });
});

describe('SSRF: a fhirServer that is not allowlisted is never called', () => {
  let hits = 0;
  let trap: Server;
  let trapUrl: string;
  beforeAll(async () => {
    trap = createServer((_req, res) => {
      hits += 1;
      res.end('{}');
    }).listen(0, '127.0.0.1');
    await once(trap, 'listening');
    trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}/fhir`;
  });
  afterAll(() => new Promise((r) => trap.close(r)));

  test('with an allowlist that does not name it: zero calls, prefetch alone, else 412', async () => {
    const guarded = appWith([{ iss: CLIENT, jwks: { keys: keys.pubs } }], {
      CDS_FHIR_ALLOWLIST: 'https://ehr.example.org/fhir',
    });
    const b = fixtureRequest('renal-cryoablation-fhir.json');
    b['fhirServer'] = trapUrl;
    const res = await request(guarded)
      .post(SERVICE)
      .set('Authorization', `Bearer ${await token()}`)
      .send(b);
    expect(res.status).toBe(412);
    expect(hits).toBe(0);
    expect(logText).toContain('not on the FHIR server allowlist');
  });

  test('a host that merely starts with an allowlisted one is not admitted', async () => {
    const { fhirServerAllowed } = await import('../../src/auth/fhir-allowlist.js');
    expect(fhirServerAllowed('https://ehr.example.org.evil.net/fhir', ['https://ehr.example.org'], [], true)).toBe(
      false,
    );
    expect(fhirServerAllowed('https://ehr.example.org/fhirx', ['https://ehr.example.org/fhir'], [], true)).toBe(false);
    expect(fhirServerAllowed('https://ehr.example.org/fhir/r4', ['https://ehr.example.org/fhir'], [], true)).toBe(true);
    expect(fhirServerAllowed('http://127.0.0.1:8080/fhir', undefined, [], false)).toBe(true);
    expect(fhirServerAllowed('http://127.0.0.1:8080/fhir', undefined, [], true)).toBe(false);
  });
});

describe('logs', () => {
  test('rejections are logged with their reason, never the token or patient data', async () => {
    const t = await token({ claims: { exp: nowSec - 600, iat: nowSec - 700 } });
    await call(`Bearer ${t}`);
    expect(logText).toContain('"authFailure":"token expired"');
    for (const secret of [t, t.split('.')[1]!, 'pat-renal-1', 'Testpatient', 'SYN-000101'])
      expect(logText).not.toContain(secret);
  });
});
