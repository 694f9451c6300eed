import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { hookResponseSchema } from '../../src/crd/hook-response.js';
import { testApp, shippedRegistry } from '../support/app.js';
import { clientJwt, SERVICE_URL } from '../support/jwt.js';
import { startFhirTestServer, type FhirTestServer } from '../support/fhir-server.js';
import { patientResources, prefetchFrom, request as fixtureRequest } from '../support/fixtures.js';

const SERVICE = '/cds-services/cryoablation-order-sign';
const service = shippedRegistry().get('cryoablation-order-sign')!;
const CONTEXT = { userId: 'Practitioner/prac-17', patientId: 'pat-renal-1' };
const ALL_KEYS = service.queries.map((q) => q.key);
const CLINICAL_KEYS = service.queries.filter((q) => q.needed === 'in-scope').map((q) => q.key);

let fhir: FhirTestServer;

beforeAll(async () => {
  fhir = await startFhirTestServer({ resources: patientResources('renal-rcc') });
});
afterAll(async () => fhir.close());
beforeEach(() => fhir.reset());

/** The renal order-sign request pointed at the test FHIR server, with the given prefetch keys filled by the server. */
async function renalRequest(prefetchKeys: readonly string[]): Promise<Record<string, any>> {
  const body = fixtureRequest('renal-cryoablation-fhir.json');
  body['fhirServer'] = fhir.url;
  body['prefetch'] = await prefetchFrom(fhir, service, CONTEXT, prefetchKeys);
  fhir.reset();
  return body;
}

function queriedResourceTypes(): string[] {
  return fhir.requests.map((r) => r.path.split(/[/?]/)[0] ?? '').sort();
}

/** The coverage-information sub-extensions of a system action's order, as code/string values by url. */
function coverageInfo(action: any): Record<string, unknown> {
  const ext = action.resource.extension.find((e: any) => e.url.endsWith('ext-coverage-information'));
  return Object.fromEntries(ext.extension.map((e: any) => [e.url, e.valueCode ?? e.valueString ?? e.valueDate]));
}

function expectValidResponse(body: unknown): void {
  const parsed = hookResponseSchema.safeParse(body);
  if (!parsed.success) throw new Error(JSON.stringify(parsed.error.issues));
}

/** The access token, the client JWT and the fixture patient's identifiers: never in a log line. */
const LOG_SECRETS = ['synthetic-access-token', 'header.payload.signature', 'pat-renal-1', 'Testpatient', 'SYN-000101'];
describe('data gathering: prefetch first, the FHIR server for what is missing', () => {
  test('complete prefetch: no FHIR call is made', async () => {
    const body = await renalRequest(ALL_KEYS);
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(200);
    expectValidResponse(res.body);
    expect(fhir.requests).toEqual([]);
    expect(coverageInfo(res.body.systemActions[0])).toMatchObject({ covered: 'covered', 'pa-needed': 'auth-needed' });
  });

  test('partial prefetch (CRD minimal): only the missing queries are made, in parallel, with the access token', async () => {
    fhir.setFaults([{ delayMs: 150 }]);
    const body = await renalRequest(['patient', 'coverage']);
    fhir.setFaults([{ delayMs: 150 }]);
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(200);
    expect(coverageInfo(res.body.systemActions[0])).toMatchObject({ covered: 'covered' });
    expect(fhir.requests.map((r) => r.path).sort()).toEqual([
      'BodyStructure?patient=pat-renal-1',
      'Condition?patient=pat-renal-1',
      expect.stringMatching(/^Observation\?patient=pat-renal-1&code=http:\/\/loinc\.org\|21889-1,/),
      expect.stringMatching(/^Observation\?patient=pat-renal-1&code=http:\/\/loinc\.org\|2857-1,/),
      'Procedure?patient=pat-renal-1',
      'QuestionnaireResponse?patient=pat-renal-1&status=completed,amended',
    ]);
    expect(fhir.maxConcurrent()).toBe(CLINICAL_KEYS.length);
    expect(new Set(fhir.requests.map((r) => r.authorization))).toEqual(new Set(['Bearer synthetic-access-token']));
  });

  test('no prefetch at all: every data query is made', async () => {
    const body = await renalRequest([]);
    delete body['prefetch'];
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(200);
    expect(queriedResourceTypes()).toEqual([
      'BodyStructure',
      'Condition',
      'Coverage',
      'Observation',
      'Observation',
      'Patient',
      'Procedure',
      'QuestionnaireResponse',
    ]);
  });

  test('an OperationOutcome in a prefetch slot means the client failed: that query is made again', async () => {
    const body = await renalRequest(ALL_KEYS);
    body['prefetch']['conditions'] = {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'timeout' }],
    };
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(200);
    expect(fhir.requests.map((r) => r.path)).toEqual(['Condition?patient=pat-renal-1']);
  });

  test('null in a prefetch slot means "no data": nothing is queried', async () => {
    const body = await renalRequest(ALL_KEYS);
    body['prefetch']['procedures'] = null;
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(200);
    expect(fhir.requests).toEqual([]);
  });

  test.each([
    ['no fhirAuthorization (Sandbox, Medplum)', (b: Record<string, any>) => delete b['fhirAuthorization']],
    [
      'an empty access token (CRD request generator)',
      (b: Record<string, any>) => (b['fhirAuthorization']['access_token'] = ''),
    ],
  ])('%s: the FHIR server is queried without an Authorization header', async (_name, strip) => {
    const body = await renalRequest(['patient', 'coverage']);
    strip(body);
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(200);
    expect(fhir.requests.length).toBe(CLINICAL_KEYS.length);
    expect(fhir.requests.every((r) => r.authorization === undefined)).toBe(true);
  });

  test('in production a plain-http fhirServer is not called: prefetch alone, else 412', async () => {
    const body = await renalRequest(['patient', 'coverage']);
    const t = testApp({ NODE_ENV: 'production', CDS_AUTH: 'on', CDS_PUBLIC_BASE_URL: 'http://localhost:3000' });
    const res = await request(t.app)
      .post(SERVICE)
      .set('Authorization', `Bearer ${await clientJwt({ aud: SERVICE_URL })}`)
      .send(body);
    expect(res.status).toBe(412);
    expect(fhir.requests).toEqual([]);
    expect(t.logs.find((l) => l['path'] === SERVICE)?.['fhirServerRefused']).toBe('plain http in production');
    expect(res.body.issue[0].diagnostics).toMatch(/is plain http, which the service never calls in production/);
    expect(res.body.issue[0].diagnostics.length).toBeLessThan(500);
  });

  test('an order out of scope needs no data: no FHIR call, no card, empty systemActions', async () => {
    const body = await renalRequest([]);
    delete body['prefetch'];
    body['context']['draftOrders']['entry'][0]['resource']['code'] = {
      coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '70450', display: 'CT head without contrast' }],
    };
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [], systemActions: [] });
    expect(fhir.requests).toEqual([]);
  });

  test('searchsets are followed through their next links', async () => {
    const paged = await startFhirTestServer({ resources: patientResources('renal-rcc'), pageSize: 1 });
    try {
      await paged.seed(
        ['C64.1', 'N18.4', 'Q85.83'].map((code, i) => ({
          resourceType: 'Condition',
          id: `paged-${i}`,
          subject: { reference: 'Patient/pat-renal-1' },
          code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code }] },
        })),
      );
      const body = fixtureRequest('renal-cryoablation-fhir.json');
      body['fhirServer'] = paged.url;
      body['prefetch'] = await prefetchFrom(
        fhir,
        service,
        CONTEXT,
        ALL_KEYS.filter((k) => k !== 'conditions'),
      );
      paged.reset();
      const res = await request(testApp().app).post(SERVICE).send(body);
      expect(res.status).toBe(200);
      expect(coverageInfo(res.body.systemActions[0])).toMatchObject({ covered: 'covered' });
      const conditionPages = paged.requests.filter((r) => r.path.startsWith('Condition'));
      // cond-rcc-1 and the three seeded Conditions, one per page
      expect(conditionPages).toHaveLength(4);
      expect(conditionPages.slice(1).every((r) => r.path.includes('_offset='))).toBe(true);
    } finally {
      await paged.close();
    }
  });
});

describe('412: data needed for an order in scope was not prefetched and there is no fhirServer', () => {
  test('names the missing prefetch keys in an OperationOutcome', async () => {
    const body = await renalRequest(['patient', 'coverage']);
    delete body['fhirServer'];
    delete body['fhirAuthorization'];
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(412);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].code).toBe('incomplete');
    expect(res.body.issue[0].expression).toEqual(CLINICAL_KEYS.map((k) => `prefetch.${k}`));
    // Issue 9: the message names the keys (no query templates) and what to do, in under 500 characters.
    const text: string = res.body.issue[0].diagnostics;
    expect(text).toMatch(/^Data needed for the orders in scope was not prefetched and no fhirServer was sent: /);
    for (const k of CLINICAL_KEYS.slice(0, 8)) expect(text).toContain(k);
    expect(text).toMatch(/CDS_PREFETCH=full/);
    expect(text).toMatch(/send fhirServer/);
    expect(text).not.toMatch(/\{\{|\?patient=/);
    expect(text.length).toBeLessThan(500);
  });

  test('a fhirServer refused by the allowlist: the 412 says so, names it and how to allow it', async () => {
    const body = await renalRequest(['patient', 'coverage']);
    body['fhirServer'] = 'https://ehr.elsewhere.example/fhir';
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(412);
    const text: string = res.body.issue[0].diagnostics;
    expect(text).toMatch(
      /^fhirServer https:\/\/ehr\.elsewhere\.example\/fhir is not on this service's FHIR server allowlist/,
    );
    expect(text).toMatch(/CDS_FHIR_ALLOWLIST/);
    expect(text).toMatch(/fhirServers in the trusted clients file/);
    expect(text).toContain(CLINICAL_KEYS[0]);
    expect(text).not.toMatch(/\{\{|\?patient=/);
    expect(text.length).toBeLessThan(500);
    expect(fhir.requests).toEqual([]);
  });

  test('an OperationOutcome slot with no fhirServer to retry is missing data too', async () => {
    const body = await renalRequest(ALL_KEYS);
    delete body['fhirServer'];
    delete body['fhirAuthorization'];
    body['prefetch']['labResults'] = {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'exception' }],
    };
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(412);
    expect(res.body.issue[0].expression).toEqual(['prefetch.labResults']);
  });

  test('the same request with nothing in scope needs no data and is answered 200', async () => {
    const body = await renalRequest([]);
    delete body['fhirServer'];
    delete body['fhirAuthorization'];
    delete body['prefetch'];
    body['context']['draftOrders']['entry'][0]['resource']['code']['coding'][0]['code'] = '70450';
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(200);
  });
});

describe('the FHIR server fails or is too slow: 200 with what the data allows, saying what was unavailable', () => {
  test('an answer larger than CDS_FHIR_MAX_RESPONSE is not read', async () => {
    const body = await renalRequest(['patient', 'coverage']);
    const t = testApp({ CDS_FHIR_MAX_RESPONSE: '200b' });
    const res = await request(t.app).post(SERVICE).send(body);
    expect(res.status).toBe(200);
    expect(t.logs.find((l) => l['path'] === SERVICE)?.['unavailable']).toEqual(
      expect.arrayContaining(['conditions:too-large']),
    );
  });

  test('fetched resources count against CDS_MAX_RESOURCES: past it, the data is incomplete', async () => {
    const paged = await startFhirTestServer({ resources: patientResources('renal-rcc'), pageSize: 2 });
    try {
      await paged.seed(
        Array.from({ length: 11 }, (_, i) => ({
          resourceType: 'Condition',
          id: `m${i}`,
          subject: { reference: 'Patient/pat-renal-1' },
        })),
      );
      const body = fixtureRequest('renal-cryoablation-fhir.json');
      body['fhirServer'] = paged.url;
      body['prefetch'] = await prefetchFrom(
        fhir,
        service,
        CONTEXT,
        ALL_KEYS.filter((k) => k !== 'conditions'),
      );
      const t = testApp({ CDS_MAX_RESOURCES: '8' });
      const res = await request(t.app).post(SERVICE).send(body);
      expect(res.status).toBe(200);
      expect(t.logs.find((l) => l['path'] === SERVICE)?.['unavailable']).toEqual(['conditions:too-large']);
      // 12 Conditions on 6 pages of 2; the 4 resources left after the prefetch stop the paging after 3 pages
      expect(paged.requests.filter((r) => r.path.startsWith('Condition')).length).toBe(3);
    } finally {
      await paged.close();
    }
  });

  // The deadline: short enough for the hanging search to be quick, long enough that the healthy searches of the test
  // FHIR server answer within it on a loaded machine (at 300 ms they did not, and every query timed out).
  const faults = [
    {
      name: 'slow past the timeout',
      fault: { hang: true },
      reason: /did not answer in time/,
      logged: 'conditions:timeout',
      timeoutMs: '1500',
    },
    {
      name: 'answering 401',
      fault: { status: 401 },
      reason: /could not provide it/,
      logged: 'conditions:http-401',
      timeoutMs: '4500',
    },
    {
      name: 'answering 500',
      fault: { status: 500 },
      reason: /could not provide it/,
      logged: 'conditions:http-500',
      timeoutMs: '4500',
    },
    {
      name: 'answering garbage',
      fault: { garbage: true },
      reason: /could not provide it/,
      logged: 'conditions:invalid-answer',
      timeoutMs: '4500',
    },
  ];

  test.each(faults)('Condition search $name', async ({ fault, reason, logged, timeoutMs }) => {
    const body = await renalRequest(['patient', 'coverage']);
    fhir.setFaults([{ match: /^Condition/, ...fault }]);
    const t = testApp({ CDS_FHIR_TIMEOUT_MS: timeoutMs });
    const res = await request(t.app).post(SERVICE).send(body);
    expect(res.status).toBe(200);
    expectValidResponse(res.body);
    expect(coverageInfo(res.body.systemActions[0])).toMatchObject({ covered: 'conditional', 'info-needed': 'OTH' });
    const card = res.body.cards.find((c: any) => /not available from the EHR/i.test(c.detail));
    expect(card.indicator).toBe('info');
    expect(card.summary).toMatch(/documentation needed/i);
    expect(card.detail).toContain('Conditions (diagnoses and problems)');
    expect(card.detail).toMatch(reason);
    expect(card.detail).toContain('Percutaneous renal tumor cryoablation');
    expect(card.detail).not.toContain('Laboratory results');
    expect(card.extension['davinci-crd.associated-resource']).toEqual(['ServiceRequest/sr-renal-cryo-1']);
    expect(card.source).toEqual({
      label: 'Aspirus Health Plan',
      topic: {
        system: 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp',
        code: 'coverage-info',
        display: 'Coverage Information',
      },
    });
    expect(card.detail).not.toMatch(/HTTP \d|127\.0\.0\.1|\/fhir/);
    const line = t.logs.find((l) => l['path'] === SERVICE);
    expect(line?.['unavailable']).toEqual([logged]);
  });

  test('a server that fails after the first page gives partial data, reported as incomplete', async () => {
    const paged = await startFhirTestServer({ resources: patientResources('renal-rcc'), pageSize: 1 });
    try {
      await paged.seed([
        { resourceType: 'Condition', id: 'second', subject: { reference: 'Patient/pat-renal-1' } } as fhir4.Condition,
      ]);
      const body = fixtureRequest('renal-cryoablation-fhir.json');
      body['fhirServer'] = paged.url;
      body['prefetch'] = await prefetchFrom(
        fhir,
        service,
        CONTEXT,
        ALL_KEYS.filter((k) => k !== 'conditions'),
      );
      paged.setFaults([{ match: /^Condition.*_offset=/, status: 503 }]);
      const t = testApp();
      const res = await request(t.app).post(SERVICE).send(body);
      expect(res.status).toBe(200);
      expect(res.body.cards[0].detail).toMatch(/Conditions \(diagnoses and problems\): only partly retrieved/);
      expect(coverageInfo(res.body.systemActions[0])).toMatchObject({ covered: 'conditional' });
      expect(t.logs.find((l) => l['path'] === SERVICE)?.['unavailable']).toEqual(['conditions:http-503']);
    } finally {
      await paged.close();
    }
  });

  test('more pages than the bound: the data counts as incomplete', async () => {
    const paged = await startFhirTestServer({ resources: patientResources('renal-rcc'), pageSize: 1 });
    try {
      await paged.seed(
        [1, 2, 3].map((i) => ({
          resourceType: 'Condition',
          id: `c${i}`,
          subject: { reference: 'Patient/pat-renal-1' },
        })),
      );
      const body = fixtureRequest('renal-cryoablation-fhir.json');
      body['fhirServer'] = paged.url;
      body['prefetch'] = await prefetchFrom(
        fhir,
        service,
        CONTEXT,
        ALL_KEYS.filter((k) => k !== 'conditions'),
      );
      paged.reset();
      const t = testApp({ CDS_FHIR_MAX_PAGES: '2' });
      const res = await request(t.app).post(SERVICE).send(body);
      expect(res.body.cards[0].detail).toMatch(/only partly retrieved/);
      expect(t.logs.find((l) => l['path'] === SERVICE)?.['unavailable']).toEqual(['conditions:page-limit']);
      expect(paged.requests).toHaveLength(2);
    } finally {
      await paged.close();
    }
  });

  test('a client-paginated prefetch is completed from the FHIR server', async () => {
    const body = await renalRequest(ALL_KEYS);
    body['prefetch']['conditions'] = {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [],
      link: [{ relation: 'next', url: `${fhir.url}/Condition?patient=pat-renal-1` }],
    };
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(200);
    expect(coverageInfo(res.body.systemActions[0])).toMatchObject({ covered: 'covered' });
    expect(fhir.requests.map((r) => r.path)).toEqual(['Condition?patient=pat-renal-1']);
  });

  test('a next link that leaves the FHIR server is not followed and the data counts as incomplete', async () => {
    const body = await renalRequest(ALL_KEYS);
    body['prefetch']['conditions'] = {
      resourceType: 'Bundle',
      type: 'searchset',
      link: [{ relation: 'next', url: 'http://127.0.0.1.evil.example/fhir/Condition?page=2' }],
    };
    const t = testApp();
    const res = await request(t.app).post(SERVICE).send(body);
    expect(res.status).toBe(200);
    expect(res.body.cards[0].detail).toMatch(/only partly retrieved/);
    expect(t.logs.find((l) => l['path'] === SERVICE)?.['unavailable']).toEqual(['conditions:foreign-link']);
  });

  test('the client can switch coverage information off (davinci-crd.configuration) or cap the number of cards', async () => {
    const body = await renalRequest(['patient', 'coverage']);
    fhir.setFaults([{ match: /^Condition/, status: 500 }]);
    const off = structuredClone(body);
    off['extension'] = { 'davinci-crd.configuration': { 'coverage-info': false } };
    const capped = structuredClone(body);
    capped['extension'] = { 'davinci-crd.configuration': { 'max-cards': 0 } };
    const { app } = testApp();
    const offRes = (await request(app).post(SERVICE).send(off)).body;
    expect(offRes).toEqual({ cards: [], systemActions: [] });
    const cappedRes = (await request(app).post(SERVICE).send(capped)).body;
    expect(cappedRes.cards).toEqual([]);
    expect(cappedRes.systemActions).toHaveLength(1);
    const plain = (await request(app).post(SERVICE).send(body)).body;
    expect(plain.cards.map((c: any) => c.source.topic.code)).toContain('coverage-info');
    expect(coverageInfo(plain.systemActions[0])).toMatchObject({ covered: 'conditional' });
  });
});

describe('request logs', () => {
  test('a call the client abandons is logged, and its FHIR queries are cancelled', async () => {
    const body = await renalRequest(['patient', 'coverage']);
    fhir.setFaults([{ hang: true }]);
    const t = testApp({ CDS_FHIR_TIMEOUT_MS: '4000' });
    const server = t.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as { port: number }).port;
    const controller = new AbortController();
    const call = fetch(`http://127.0.0.1:${port}${SERVICE}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: controller.signal,
    }).catch(() => 'aborted');
    while (fhir.requests.length < CLINICAL_KEYS.length) await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    expect(await call).toBe('aborted');
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && fhir.requests.some((r) => r.endedAt === undefined))
      await new Promise((r) => setTimeout(r, 10));
    expect(fhir.requests.every((r) => r.endedAt !== undefined)).toBe(true);
    expect(t.logs.find((l) => l['path'] === SERVICE)).toMatchObject({
      aborted: true,
      hookInstance: body['hookInstance'],
    });
    // The aborted fetch leaves its socket to the server's keep-alive timeout (~4 s, close to the test's timeout on
    // a loaded machine): close it here, the exchange is over and logged.
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test.each([
    ['a 400', (b: Record<string, any>) => JSON.stringify(b).slice(0, -1)],
    ['a 422', (b: Record<string, any>) => JSON.stringify({ ...b, hook: 42 })],
    [
      'a 412',
      (b: Record<string, any>) => JSON.stringify({ ...b, fhirServer: undefined, fhirAuthorization: undefined }),
    ],
  ])('error answers (%s) log no patient data and no token', async (_name, make) => {
    const body = await renalRequest(['patient', 'coverage']);
    const t = testApp();
    await request(t.app)
      .post(SERVICE)
      .set('Content-Type', 'application/json')
      .set('Authorization', 'Bearer header.payload.signature')
      .send(make(body));
    const text = t.logText();
    expect(text).toContain('"path":"/cds-services/cryoablation-order-sign"');
    for (const secret of LOG_SECRETS) {
      expect(text).not.toContain(secret);
    }
  });

  test('one line per call with hookInstance, service, status, timing, orders and FHIR queries; no token, no patient data', async () => {
    const body = await renalRequest(['patient', 'coverage']);
    const t = testApp();
    await request(t.app).post(SERVICE).set('Authorization', 'Bearer header.payload.signature').send(body);
    const lines = t.logs.filter((l) => l['path'] === SERVICE);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      hookInstance: body['hookInstance'],
      serviceId: 'cryoablation-order-sign',
      status: 200,
      ms: expect.any(Number),
      orders: 1,
      ordersInScope: 1,
      fhirRequests: CLINICAL_KEYS.length,
    });
    const text = t.logText();
    for (const secret of [...LOG_SECRETS, 'C64.1']) {
      expect(text).not.toContain(secret);
    }
  });
});
