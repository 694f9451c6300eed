import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { importJWK, SignJWT, type JWK } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { authenticator } from '../../src/auth/client-auth.js';
import { trustedClients } from '../../src/auth/trusted-clients.js';
import { hookResponseSchema } from '../../src/crd/hook-response.js';
import { createApp } from '../../src/server/app.js';
import { configFrom } from '../../src/server/config.js';
import { createLogger } from '../../src/server/logger.js';
import { appServices, shippedRegistry, testApp } from '../support/app.js';
import { conformanceProblems } from '../support/crd-conformance.js';
import { startFhirTestServer, type FhirTestServer } from '../support/fhir-server.js';
import { patientResources, request as fixtureRequest } from '../support/fixtures.js';
import { testKeyPair } from '../support/keys.js';

/**
 * Request shapes and tokens of real CDS clients (shared/research/real-clients.md), kept under
 * fixtures/requests/clients and fixtures/keys/clients:
 * - CDS Hooks Sandbox @3b7e255 (src/components/Pama/pama.jsx, src/retrieve-data-helpers/jwt-generator.js)
 * - Inferno davinci-crd-test-kit @1d1f2c4 (config/presets/ri_crd_server.json.erb, lib/davinci_crd_test_kit/jwt_helper.rb)
 * - Da Vinci crd-request-generator @1a184da (src/util/buildRequest.js, src/util/auth.js) with test-ehr @b698423 seed orders
 * - @medplum/core buildCdsRequest
 * Each test asserts the status, the decision (card summary) and the coverage-information field by field.
 */

const SERVICE = '/cds-services/cryoablation-order-sign';
const BASE = 'http://localhost:3000';
const NOW = new Date('2026-11-23T12:00:00Z');
const NOW_SEC = Math.floor(NOW.getTime() / 1000);
const CPT_50593 = {
  system: 'http://www.ama-assn.org/go/cpt',
  code: '50593',
  display: 'Ablation, renal tumor(s), unilateral, percutaneous, cryotherapy',
};
const COVERAGE_INFO = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';
const EMPTY = { cards: [], systemActions: [] };

type Rec = Record<string, any>;
let fhir: FhirTestServer;

beforeAll(async () => {
  fhir = await startFhirTestServer({ resources: patientResources('renal-rcc') });
});
afterAll(async () => fhir.close());
beforeEach(() => fhir.reset());

function body(name: string, pointAtTestServer = true): Rec {
  const b = fixtureRequest(`clients/${name}.json`);
  if (pointAtTestServer && b['fhirServer']) b['fhirServer'] = fhir.url;
  return b;
}

/** Posts a request and checks the answer against the CRD checks; `echoed` lists problems the client's own draft carries. */
async function post(sent: Rec, echoed: readonly string[] = []) {
  const res = await request(testApp().app).post(SERVICE).send(sent);
  expect(res.status).toBe(200);
  expect(hookResponseSchema.safeParse(res.body).success).toBe(true);
  expect(conformanceProblems(sent, res.status, res.body)).toEqual(echoed);
  return res.body as Rec;
}

/** The coverage-information sub-extensions of the one updated order, as [url, value] pairs in the order sent. */
function coverageFields(answer: Rec, draft: Rec): [string, unknown][] {
  expect(answer['systemActions']).toHaveLength(1);
  const action = answer['systemActions'][0] as Rec;
  expect(action['type']).toBe('update');
  const { extension, ...rest } = action['resource'] as Rec;
  // The update is the draft order as sent plus the extension, nothing else changed.
  expect(rest).toEqual(draft);
  const infos = (extension as Rec[]).filter((e) => e['url'] === COVERAGE_INFO);
  expect(infos).toHaveLength(1);
  return (infos[0]!['extension'] as Rec[]).map((e) => {
    const { url, ...value } = e;
    return [url as string, Object.values(value)[0]];
  });
}

const assertionId = ['coverage-assertion-id', expect.stringMatching(/^[0-9a-f-]{36}$/)];

function coveredFields(reason: string) {
  return [
    ['coverage', { reference: 'Coverage/cov-renal-1' }],
    ['covered', 'covered'],
    ['pa-needed', 'auth-needed'],
    ['billingCode', CPT_50593],
    ['reason', { text: reason }],
    ['date', '2026-11-23'],
    assertionId,
  ];
}

function documentationFields(reason: string) {
  return [
    ['coverage', { reference: 'Coverage/cov-renal-1' }],
    ['covered', 'conditional'],
    ['pa-needed', 'auth-needed'],
    ['doc-needed', 'clinical'],
    ['doc-purpose', 'withpa'],
    ['info-needed', 'OTH'],
    ['billingCode', CPT_50593],
    ['reason', { text: reason }],
    // The policy's own stable canonical (issue 9 item 1), whatever the base URL.
    ['questionnaire', 'https://fhir.aspirushealthplan.example/Questionnaire/cryoablation-medical-necessity|1.0.0'],
    ['date', '2026-11-23'],
    assertionId,
  ];
}

function draftOf(sent: Rec): Rec {
  return sent['context']['draftOrders']['entry'][0]['resource'] as Rec;
}

function summaries(answer: Rec): [string, string][] {
  return (answer['cards'] as Rec[]).map((c) => [c['indicator'] as string, c['summary'] as string]);
}

const PA_CARD: [string, string] = ['info', 'Prior authorization required by Aspirus Health Plan for CPT 50593'];
const COVERED_V: [string, string] = [
  'info',
  'Covered: Renal cryoablation (CPT 50593) meets Cryoablation policy V.A, V.B. Next: request prior authorization',
];
const DOC_NEEDED: [string, string] = [
  'info',
  'Documentation needed: Renal cryoablation (CPT 50593). Next: answer 4 questions in the plan questionnaire',
];

describe('CDS Hooks Sandbox', () => {
  test('PAMA screen (untyped Bundle, intent plan, extra context key, no fhirAuthorization): queries the FHIR server without a token', async () => {
    await post(body('cds-hooks-sandbox-pama'));
    expect(fhir.requests.map((r) => r.path.split('?')[0])).toContain('Condition');
    expect(fhir.requests.some((r) => r.path.startsWith('Patient'))).toBe(false);
    expect(fhir.requests.every((r) => r.authorization === undefined)).toBe(true);
  });

  // Ruling R5: a draft order without `requester` is ordered by context.userId (Practitioner/PractitionerRole),
  // which meets GEN.ordered-by-provider.
  test('PAMA screen, no requester on the draft: context.userId is the orderer (R5), so covered by V.A and V.B', async () => {
    const sent = body('cds-hooks-sandbox-pama');
    const answer = await post(sent);
    expect(summaries(answer)).toEqual([COVERED_V, PA_CARD]);
    expect(coverageFields(answer, draftOf(sent))).toEqual(
      coveredFields('Meets Cryoablation policy V.A, V.B; prior authorization required'),
    );
  });

  // The Sandbox sends `reasonCode: []` (invalid FHIR) when no reason is picked; the update returns the draft as sent
  // plus the extension (issue 9), so the empty array comes back and an Inferno-style check flags it.
  const NO_REASON_ECHO = ['systemActions[0].resource.reasonCode is an empty array'];

  // Ruling R5, as above.
  test('PAMA screen with no reason picked (reasonCode: []): the indication comes from the record, covered once R5 lands', async () => {
    const sent = body('cds-hooks-sandbox-pama-no-reason');
    const answer = await post(sent, NO_REASON_ECHO);
    expect(summaries(answer)).toEqual([COVERED_V, PA_CARD]);
    expect(coverageFields(answer, draftOf(sent))).toEqual(
      coveredFields('Meets Cryoablation policy V.A, V.B; prior authorization required'),
    );
  });

  test('PAMA screen with no reason picked (reasonCode: []) is accepted and decided like the order with one (same fields)', async () => {
    const withReason = body('cds-hooks-sandbox-pama');
    const without = body('cds-hooks-sandbox-pama-no-reason');
    const a = await post(withReason);
    const b = await post(without, NO_REASON_ECHO);
    expect(summaries(b)).toEqual(summaries(a));
    const decided = (fields: [string, unknown][]) => fields.filter(([url]) => url !== 'coverage-assertion-id');
    expect(decided(coverageFields(b, draftOf(without)))).toEqual(decided(coverageFields(a, draftOf(withReason))));
  });

  test('Rx Sign: a MedicationRequest with an invalid category is out of scope and costs no query', async () => {
    expect(await post(body('cds-hooks-sandbox-rx-sign'))).toEqual(EMPTY);
    expect(fhir.requests).toEqual([]);
  });
});

describe('Inferno CRD test kit (server suite acting as the client)', () => {
  test("the kit's default ServiceRequest body: an HCPCS order out of scope, its unreachable fhirServer never called", async () => {
    expect(await post(body('inferno-order-sign', false))).toEqual(EMPTY);
  });

  test("the kit's default DeviceRequest body (E0250 hospital bed): out of scope, nothing asserted", async () => {
    expect(await post(body('inferno-order-sign-device-request', false))).toEqual(EMPTY);
  });

  test('its envelope around a renal cryoablation order, all data prefetched, requester by display only: covered by V.A and V.B', async () => {
    const sent = body('inferno-order-sign-renal-cryo', false);
    const answer = await post(sent);
    expect(summaries(answer)).toEqual([COVERED_V, PA_CARD]);
    expect(coverageFields(answer, draftOf(sent))).toEqual(
      coveredFields('Meets Cryoablation policy V.A, V.B; prior authorization required'),
    );
  });
});

describe('Da Vinci CRD request generator', () => {
  test('older build (typed Bundle, broad scope): empty access token, its own prefetch keys: covered by V.A and V.B', async () => {
    const sent = body('crd-request-generator');
    const answer = await post(sent);
    const types = fhir.requests.map((r) => r.path.split(/[/?]/)[0]);
    expect(types).toEqual(expect.arrayContaining(['Patient', 'Coverage', 'Condition']));
    expect(fhir.requests.every((r) => r.authorization === undefined)).toBe(true);
    expect(summaries(answer)).toEqual([COVERED_V, PA_CARD]);
    expect(coverageFields(answer, draftOf(sent))).toEqual(
      coveredFields('Meets Cryoablation policy V.A, V.B; prior authorization required'),
    );
  });

  test('current build, a ServiceRequest as test-ehr stores them (untyped Bundle, meta.profile, requester by display, no reason): covered', async () => {
    const sent = body('crd-request-generator-service-request');
    const answer = await post(sent);
    expect(fhir.requests.every((r) => r.authorization === undefined)).toBe(true);
    expect(fhir.requests.map((r) => r.path.split(/[/?]/)[0])).toEqual(
      expect.arrayContaining(['Patient', 'Coverage', 'Condition']),
    );
    expect(summaries(answer)).toEqual([COVERED_V, PA_CARD]);
    expect(coverageFields(answer, draftOf(sent))).toEqual(
      coveredFields('Meets Cryoablation policy V.A, V.B; prior authorization required'),
    );
  });

  test("current build, test-ehr's oxygen DeviceRequest (HCPCS E0424): out of scope, no query", async () => {
    expect(await post(body('crd-request-generator-device-request'))).toEqual(EMPTY);
    expect(fhir.requests).toEqual([]);
  });
});

describe('@medplum/core buildCdsRequest', () => {
  test('no fhirServer, null for templates it could not resolve: documentation needed for V.A–V.D', async () => {
    const sent = body('medplum-client');
    const answer = await post(sent);
    expect(summaries(answer)).toEqual([DOC_NEEDED, PA_CARD]);
    expect(coverageFields(answer, draftOf(sent))).toEqual(
      documentationFields('Documentation needed for Cryoablation policy: V.A, V.B, V.C, V.D'),
    );
  });

  test('it prefetches what discovery lists: CDS_PREFETCH=full lists every key it sends, the default only Patient and Coverage', async () => {
    const sentKeys = Object.keys(body('medplum-client')['prefetch'] as Rec).sort();
    const listed = async (env: Record<string, string>) =>
      Object.keys(
        ((await request(testApp(env).app).get('/cds-services')).body as Rec)['services'][0]['prefetch'] as Rec,
      ).sort();
    expect(await listed({ CDS_PREFETCH: 'full' })).toEqual(sentKeys);
    expect(await listed({})).toEqual(['coverage', 'patient']);
  });

  test('with the default discovery it would send Patient and Coverage only, and no fhirServer: an order in scope gets 412', async () => {
    const sent = body('medplum-client');
    sent['prefetch'] = { patient: sent['prefetch']['patient'], coverage: sent['prefetch']['coverage'] };
    const res = await request(testApp().app).post(SERVICE).send(sent);
    expect(res.status).toBe(412);
  });

  test('in a browser its preflight asks for X-Medplum, which is allowed', async () => {
    const res = await request(testApp().app)
      .options(SERVICE)
      .set('Origin', 'http://localhost:3001')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type,x-medplum');
    expect(res.status).toBeLessThan(300);
    expect(String(res.headers['access-control-allow-headers']).toLowerCase()).toMatch(/x-medplum/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Tokens as each client signs them, checked against the development trusted-clients file.

const DEV_FILE = configFrom().trustedClientsFile;
const devEntries = (JSON.parse(readFileSync(DEV_FILE, 'utf8')) as { clients: Rec[] }).clients;

function privateKey(file: string): JWK {
  return JSON.parse(readFileSync(new URL(`../../fixtures/keys/clients/${file}`, import.meta.url), 'utf8')) as JWK;
}
const SANDBOX_KEY = privateKey('cds-hooks-sandbox.private.jwk.json');
const INFERNO_KEYS = (
  JSON.parse(
    readFileSync(
      new URL('../../fixtures/keys/clients/inferno-crd-test-kit.private.jwks.json', import.meta.url),
      'utf8',
    ),
  ) as { keys: JWK[] }
).keys;

interface Signed {
  readonly key: JWK;
  readonly alg: string;
  readonly header: Record<string, unknown>;
  readonly claims: Record<string, unknown>;
}

async function sign(s: Signed): Promise<string> {
  return new SignJWT(s.claims).setProtectedHeader({ alg: s.alg, ...s.header }).sign(await importJWK(s.key, s.alg));
}

/** jwt-generator.js: ES384 with the key in the Sandbox's repository, jku its public JWKS, 300 s, uuid jti. */
function sandboxToken(aud: string): Promise<string> {
  return sign({
    key: SANDBOX_KEY,
    alg: 'ES384',
    header: {
      typ: 'JWT',
      kid: '44823f3d-0b01-4a6c-a80e-b9d3e8a7226f',
      jku: 'https://sandbox.cds-hooks.org/.well-known/jwks.json',
    },
    claims: { iss: 'https://sandbox.cds-hooks.org', aud, exp: NOW_SEC + 300, iat: NOW_SEC, jti: randomUUID() },
  });
}

/** jwt_helper.rb: iss = Inferno's suite URL, jku = iss + /jwks.json, 5 minutes, 64 hex jti; one token per test run. */
function infernoToken(
  aud: string,
  alg: 'ES384' | 'RS384',
  iss = 'http://localhost/custom/crd_server',
  jku = `${iss}/jwks.json`,
): Promise<string> {
  const key = INFERNO_KEYS.find((k) => k.alg === alg)!;
  return sign({
    key,
    alg,
    header: { typ: 'JWT', kid: key.kid, jku },
    claims: { iss, aud, exp: NOW_SEC + 300, iat: NOW_SEC, jti: randomBytes(32).toString('hex') },
  });
}

function authedApp() {
  return testApp({ CDS_AUTH: 'on' }, () => NOW).app;
}

describe('the development trusted-clients file', () => {
  test('every entry is a development client (its private key is public); production refuses them', () => {
    expect(devEntries.map((c) => [c['iss'], c['development']])).toEqual([
      ['https://sandbox.cds-hooks.org', true],
      ['https://dev-client.crd.invalid', true],
      ['http://localhost/custom/crd_server', true],
      ['http://localhost:4567/custom/crd_server', true],
      ['https://inferno.healthit.gov/suites/custom/crd_server', true],
      ['http://localhost:8080/test-ehr/r4', true],
    ]);
    const loaded = trustedClients(DEV_FILE);
    expect(loaded.ok).toBe(true);
  });

  test('only the Inferno entries reuse a jti; only the request generator signs for longer than 300 s', () => {
    expect(devEntries.filter((c) => c['allowJtiReuse'] === true).map((c) => c['iss'])).toEqual([
      'http://localhost/custom/crd_server',
      'http://localhost:4567/custom/crd_server',
      'https://inferno.healthit.gov/suites/custom/crd_server',
    ]);
    expect(
      devEntries
        .filter((c) => (c['maxTokenLifetimeSec'] ?? 300) > 300)
        .map((c) => [c['iss'], c['maxTokenLifetimeSec']]),
    ).toEqual([['http://localhost:8080/test-ehr/r4', 86_460]]);
  });
});

describe('CDS Hooks Sandbox tokens', () => {
  test('discovery and the PAMA order-sign call, signed as the Sandbox signs them (ES384, its kid and jku)', async () => {
    const app = authedApp();
    const discovery = await request(app)
      .get('/cds-services')
      .set('Authorization', `Bearer ${await sandboxToken(`${BASE}/cds-services`)}`);
    expect(discovery.status).toBe(200);
    const call = await request(app)
      .post(SERVICE)
      .set('Authorization', `Bearer ${await sandboxToken(`${BASE}${SERVICE}`)}`)
      .send(body('cds-hooks-sandbox-pama'));
    expect(call.status).toBe(200);
  });

  test('feedback, whose aud is the service URL + /feedback', async () => {
    const res = await request(authedApp())
      .post(`${SERVICE}/feedback`)
      .set('Authorization', `Bearer ${await sandboxToken(`${BASE}${SERVICE}/feedback`)}`)
      .send({ feedback: [{ card: randomUUID(), outcome: 'overridden', outcomeTimestamp: NOW.toISOString() }] });
    expect(res.status).toBe(200);
  });

  test('a Sandbox that calls 127.0.0.1 signs aud with 127.0.0.1, which is accepted in development', async () => {
    const res = await request(authedApp())
      .post(SERVICE)
      .set('Host', '127.0.0.1:3000')
      .set('Authorization', `Bearer ${await sandboxToken(`http://127.0.0.1:3000${SERVICE}`)}`)
      .send(body('cds-hooks-sandbox-rx-sign'));
    expect(res.status).toBe(200);
  });

  test('the Sandbox signs a fresh jti per call: the same token twice is refused', async () => {
    const app = authedApp();
    const t = await sandboxToken(`${BASE}${SERVICE}`);
    expect(
      (await request(app).post(SERVICE).set('Authorization', `Bearer ${t}`).send(body('cds-hooks-sandbox-rx-sign')))
        .status,
    ).toBe(200);
    expect(
      (await request(app).post(SERVICE).set('Authorization', `Bearer ${t}`).send(body('cds-hooks-sandbox-rx-sign')))
        .status,
    ).toBe(401);
  });
});

describe('Inferno CRD test kit tokens', () => {
  test.each(['ES384', 'RS384'] as const)(
    "one %s token for the kit's two default order-sign bodies (it signs once per test)",
    async (alg) => {
      const app = authedApp();
      const t = await infernoToken(`${BASE}${SERVICE}`, alg);
      for (const name of ['inferno-order-sign-device-request', 'inferno-order-sign']) {
        const res = await request(app).post(SERVICE).set('Authorization', `Bearer ${t}`).send(body(name, false));
        expect(res.status).toBe(200);
        expect(res.body).toEqual(EMPTY);
      }
    },
  );

  test.each(['http://localhost:4567/custom/crd_server', 'https://inferno.healthit.gov/suites/custom/crd_server'])(
    'the kit run without Docker, and the hosted kit, are trusted the same way (%s)',
    async (iss) => {
      const app = authedApp();
      const discovery = await request(app)
        .get('/cds-services')
        .set('Authorization', `Bearer ${await infernoToken(`${BASE}/cds-services`, 'ES384', iss)}`);
      expect(discovery.status).toBe(200);
      const t = await infernoToken(`${BASE}${SERVICE}`, 'ES384', iss);
      const res = await request(app)
        .post(SERVICE)
        .set('Authorization', `Bearer ${t}`)
        .send(body('inferno-order-sign-renal-cryo', false));
      expect(res.status).toBe(200);
    },
  );

  test('a jku other than the suite’s own is refused', async () => {
    const t = await infernoToken(
      `${BASE}${SERVICE}`,
      'ES384',
      'http://localhost/custom/crd_server',
      'http://localhost/custom/other/jwks.json',
    );
    expect(
      (
        await request(authedApp())
          .post(SERVICE)
          .set('Authorization', `Bearer ${t}`)
          .send(body('inferno-order-sign', false))
      ).status,
    ).toBe(401);
  });

  test('that refusal says the jku is not listed for the client, and does not echo the token', async () => {
    const t = await infernoToken(
      `${BASE}${SERVICE}`,
      'ES384',
      'http://localhost/custom/crd_server',
      'http://localhost/custom/other/jwks.json',
    );
    const res = await request(authedApp())
      .post(SERVICE)
      .set('Authorization', `Bearer ${t}`)
      .send(body('inferno-order-sign', false));
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer .*error="invalid_token"/);
    expect(res.headers['www-authenticate']).toMatch(/error_description="[^"]*jku[^"]*"/);
    expect(JSON.stringify(res.body)).toMatch(/jku/);
    expect(JSON.stringify(res.body) + String(res.headers['www-authenticate'])).not.toContain(t);
  });

  test('allowJtiReuse on a client that is not a development client stops start-up', () => {
    const dir = mkdtempSync(join(tmpdir(), 'clients-'));
    const file = join(dir, 'clients.json');
    writeFileSync(
      file,
      JSON.stringify({
        clients: [
          {
            iss: 'https://ehr.example.org',
            jwksFile: join(process.cwd(), 'config/inferno-crd-test-kit.jwks.json'),
            allowJtiReuse: true,
          },
        ],
      }),
    );
    const loaded = trustedClients(file);
    expect(loaded.ok).toBe(false);
    expect(!loaded.ok && loaded.errors.join('\n')).toMatch(/allowJtiReuse/);
  });
});

// The request generator makes a fresh RSA key on every page load and publishes it at its `jku` (its own server's
// /public_keys), so the development entry names that URL as jwksUrl. Here a local server stands in for it.
describe('Da Vinci CRD request generator tokens', () => {
  const GENERATOR_ISS = 'http://localhost:8080/test-ehr/r4';
  let keyServer: Server;
  let served: unknown;
  let rsa: { pub: JWK; priv: JWK };
  let keysUrl: string;

  beforeAll(async () => {
    rsa = testKeyPair('RS256', randomUUID()); // generated once per run (test/support/keys.ts)
    keyServer = createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(served));
    }).listen(0, '127.0.0.1');
    await once(keyServer, 'listening');
    keysUrl = `http://127.0.0.1:${(keyServer.address() as AddressInfo).port}/public_keys`;
  });
  afterAll(() => new Promise<void>((done) => keyServer.close(() => done())));

  /** The development entry as committed, its key URL pointed at the stand-in. */
  function generatorApp() {
    const entry = devEntries.find((c) => c['iss'] === GENERATOR_ISS)!;
    const dir = mkdtempSync(join(tmpdir(), 'clients-'));
    const file = join(dir, 'clients.json');
    writeFileSync(file, JSON.stringify({ clients: [{ ...entry, jwksUrl: keysUrl, jku: [keysUrl] }] }));
    const loaded = trustedClients(file);
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    const config = configFrom({ CDS_AUTH: 'on' });
    return createApp({
      config,
      registry: shippedRegistry(),
      logger: createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() })),
      now: () => NOW,
      ...appServices(config),
      authenticator: authenticator({
        clients: loaded.clients,
        clockSkewSec: config.clockSkewSec,
        now: () => NOW.getTime(),
      }),
    });
  }

  /** auth.js createJwt: RS256, kid = thumbprint, jku = its public_keys URL, exp = now + 1 day (two clock reads). */
  function generatorToken(lifeSec: number): Promise<string> {
    return sign({
      key: rsa.priv,
      alg: 'RS256',
      header: { typ: 'JWT', kid: rsa.pub.kid, jku: keysUrl },
      claims: {
        iss: GENERATOR_ISS,
        aud: `${BASE}${SERVICE}`,
        iat: NOW_SEC,
        exp: NOW_SEC + lifeSec,
        jti: randomBytes(96).toString('base64url'),
      },
    });
  }

  test('a one-day token (plus the second between its two clock reads) is accepted when its key is a standard JWKS', async () => {
    served = { keys: [rsa.pub] };
    const app = generatorApp();
    const res = await request(app)
      .post(SERVICE)
      .set('Authorization', `Bearer ${await generatorToken(86_401)}`)
      .send(body('crd-request-generator-service-request'));
    expect(res.status).toBe(200);
    expect(
      (
        await request(app)
          .post(SERVICE)
          .set('Authorization', `Bearer ${await generatorToken(86_400 * 2)}`)
          .send(body('crd-request-generator-service-request'))
      ).status,
    ).toBe(401);
  });

  test('its own key list format (GET /public_keys) is read', async () => {
    served = [{ pem: rsa.pub, id: rsa.pub.kid, timestamp: NOW.getTime() }];
    const res = await request(generatorApp())
      .post(SERVICE)
      .set('Authorization', `Bearer ${await generatorToken(86_400)}`)
      .send(body('crd-request-generator-service-request'));
    expect(res.status).toBe(200);
  });
});
