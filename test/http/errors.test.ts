import { Writable } from 'node:stream';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { createLogger } from '../../src/server/logger.js';
import { describe, expect, test } from 'vitest';
import { testApp } from '../support/app.js';
import { request as fixtureRequest } from '../support/fixtures.js';

const SERVICE = '/cds-services/cryoablation-order-sign';
const valid = () => fixtureRequest('renal-cryoablation-prefetched.json');

function expectOutcome(body: any, code: string, diagnostics?: RegExp): void {
  expect(body.resourceType).toBe('OperationOutcome');
  expect(body.issue[0]).toMatchObject({ severity: 'error', code });
  if (diagnostics) expect(body.issue.map((i: any) => i.diagnostics).join('\n')).toMatch(diagnostics);
}

describe('400: the body is not parsable JSON', () => {
  test.each([
    ['truncated JSON', '{"hook": "order-sign"'],
    ['plain text', 'order-sign please'],
    ['JSON with a trailing comma', '{"hook":"order-sign",}'],
  ])('%s', async (_name, body) => {
    const res = await request(testApp().app).post(SERVICE).set('Content-Type', 'application/json').send(body);
    expect(res.status).toBe(400);
    expect(res.type).toBe('application/fhir+json');
    expectOutcome(res.body, 'structure', /not parsable JSON/);
  });

  test('an empty body', async () => {
    const res = await request(testApp().app).post(SERVICE).set('Content-Type', 'application/json');
    expect(res.status).toBe(400);
    expectOutcome(res.body, 'structure', /empty/);
  });

  test('JSON is read whatever the Content-Type says (clients differ)', async () => {
    const res = await request(testApp().app)
      .post(SERVICE)
      .set('Content-Type', 'text/plain')
      .send(JSON.stringify(valid()));
    expect(res.status).toBe(200);
  });
});

type Mutation = (r: Record<string, any>) => unknown;
const WHOLE_BODY = Symbol('replace the whole body');

const invalid: { name: string; mutate: Mutation; path: string; body?: unknown }[] = [
  { name: 'a JSON array instead of an object', mutate: () => WHOLE_BODY, body: [1, 2], path: '' },
  { name: 'no hook', mutate: (r) => delete r['hook'], path: 'hook' },
  { name: 'a numeric hookInstance', mutate: (r) => (r['hookInstance'] = 42), path: 'hookInstance' },
  { name: 'no context', mutate: (r) => delete r['context'], path: 'context' },
  { name: 'no patientId', mutate: (r) => delete r['context']['patientId'], path: 'context.patientId' },
  { name: 'an empty userId', mutate: (r) => (r['context']['userId'] = ''), path: 'context.userId' },
  { name: 'no draftOrders', mutate: (r) => delete r['context']['draftOrders'], path: 'context.draftOrders' },
  {
    name: 'draftOrders that is not a Bundle',
    mutate: (r) => (r['context']['draftOrders'] = { resourceType: 'ServiceRequest' }),
    path: 'context.draftOrders.resourceType',
  },
  {
    name: 'a draft order entry without a resource',
    mutate: (r) => (r['context']['draftOrders']['entry'] = [{ fullUrl: 'urn:uuid:1' }]),
    path: 'context.draftOrders.entry[0].resource',
  },
  {
    name: 'a draft order without resourceType',
    mutate: (r) => delete r['context']['draftOrders']['entry'][0]['resource']['resourceType'],
    path: 'context.draftOrders.entry[0].resource.resourceType',
  },
  {
    name: 'a patientId that is a path segment',
    mutate: (r) => (r['context']['patientId'] = '..'),
    path: 'context.patientId',
  },
  {
    name: 'a patientId with a lone surrogate',
    mutate: (r) => (r['context']['patientId'] = 'pat\ud800'),
    path: 'context.patientId',
  },
  {
    name: 'a reference prefix with no id',
    mutate: (r) => (r['context']['patientId'] = 'Patient/'),
    path: 'context.patientId',
  },
  {
    name: 'a patientId with a query',
    mutate: (r) => (r['context']['patientId'] = 'p?_id=x'),
    path: 'context.patientId',
  },
  {
    name: 'an encounterId with a slash',
    mutate: (r) => (r['context']['encounterId'] = 'a/b'),
    path: 'context.encounterId',
  },
  { name: 'a fhirServer that is not a URL', mutate: (r) => (r['fhirServer'] = 'ehr.example.org'), path: 'fhirServer' },
  {
    name: 'a fhirServer with a query',
    mutate: (r) => (r['fhirServer'] = 'https://ehr.example.org/fhir?x=1'),
    path: 'fhirServer',
  },
  {
    name: 'a fhirServer with a fragment',
    mutate: (r) => (r['fhirServer'] = 'https://ehr.example.org/fhir#f'),
    path: 'fhirServer',
  },
  {
    name: 'a fhirServer with credentials',
    mutate: (r) => (r['fhirServer'] = 'https://u:p@ehr.example.org/fhir'),
    path: 'fhirServer',
  },
  { name: 'a file: fhirServer', mutate: (r) => (r['fhirServer'] = 'file:///etc/passwd'), path: 'fhirServer' },
  {
    name: 'fhirAuthorization without fhirServer',
    mutate: (r) => (r['fhirAuthorization'] = { access_token: 't', token_type: 'Bearer' }),
    path: 'fhirServer',
  },
  {
    name: 'a numeric access token',
    mutate: (r) => {
      r['fhirServer'] = 'https://ehr.example.org/fhir';
      r['fhirAuthorization'] = { access_token: 12 };
    },
    path: 'fhirAuthorization.access_token',
  },
  { name: 'another hook sent to the order-sign service', mutate: (r) => (r['hook'] = 'patient-view'), path: 'hook' },
  {
    name: 'a prefetch value that is not a resource',
    mutate: (r) => (r['prefetch']['patient'] = 'pat-renal-1'),
    path: 'prefetch.patient',
  },
  {
    name: 'a prefetch slot holding the wrong resource type',
    mutate: (r) => (r['prefetch']['coverage'] = { resourceType: 'Patient', id: 'x' }),
    path: 'prefetch.coverage',
  },
  { name: 'prefetch that is not an object', mutate: (r) => (r['prefetch'] = ['patient']), path: 'prefetch' },
];

describe('422: valid JSON that breaks CDS Hooks, with an OperationOutcome naming the path', () => {
  test.each(invalid)('$name', async ({ mutate, path, body: whole }) => {
    const body = valid();
    const sent = mutate(body) === WHOLE_BODY ? whole : body;
    const res = await request(testApp().app)
      .post(SERVICE)
      .send(sent as object);
    expect(res.status).toBe(422);
    expectOutcome(res.body, 'invalid');
    if (path) expect(res.body.issue.flatMap((i: any) => i.expression ?? [])).toContain(path);
  });
});

const order = (r: any) => r['context']['draftOrders']['entry'][0]['resource'];
const ENTRY = 'context.draftOrders.entry[0].resource';

describe("422: a draft order that is not a request resource for the call's patient (issue 9)", () => {
  test.each([
    [
      'resourceType "Foo"',
      (r: any) => (order(r)['resourceType'] = 'Foo'),
      `${ENTRY}.resourceType`,
      /"Foo" is not a request resource/,
    ],
    [
      'a Patient as the draft',
      (r: any) => (order(r)['resourceType'] = 'Patient'),
      `${ENTRY}.resourceType`,
      /"Patient" is not a request resource/,
    ],
    [
      'an Appointment (not an order-sign draft)',
      (r: any) => (order(r)['resourceType'] = 'Appointment'),
      `${ENTRY}.resourceType`,
      /Appointment/,
    ],
    [
      'a subject naming another patient',
      (r: any) => (order(r)['subject'] = { reference: 'Patient/someone-else' }),
      `${ENTRY}.subject`,
      /names Patient\/someone-else, not the patient in context \(Patient\/pat-renal-1\)/,
    ],
    [
      'an absolute subject URL naming another patient',
      (r: any) => (order(r)['subject'] = { reference: 'https://ehr.example.org/fhir/Patient/other' }),
      `${ENTRY}.subject`,
      /Patient\/other/,
    ],
    [
      'a subject naming a Group',
      (r: any) => (order(r)['subject'] = { reference: 'Group/g1' }),
      `${ENTRY}.subject`,
      /Group\/g1/,
    ],
    [
      'the second order for another patient',
      (r: any) =>
        r['context']['draftOrders']['entry'].push({
          resource: { ...order(r), id: 'sr-2', subject: { reference: 'Patient/p2' } },
        }),
      'context.draftOrders.entry[1].resource.subject',
      /Patient\/p2/,
    ],
    [
      'two draft orders with one reference (each gets its own assertion)',
      (r: any) => r['context']['draftOrders']['entry'].push({ resource: { ...order(r) } }),
      'context.draftOrders.entry[1].resource.id',
      /two draft orders are ServiceRequest\/[^:]+: give each order its own id/,
    ],
  ])('%s', async (_name, mutate, path, diagnostics) => {
    const body = valid();
    mutate(body);
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(422);
    expectOutcome(res.body, 'invalid', diagnostics);
    expect(res.body.issue[0].expression).toEqual([path]);
    expect(res.body.issue[0].diagnostics.length).toBeLessThan(500);
  });

  test.each([
    [
      'an absolute URL ending in the context patient',
      { reference: 'https://ehr.example.org/fhir/Patient/pat-renal-1' },
    ],
    ['a versioned reference to the context patient', { reference: 'Patient/pat-renal-1/_history/3' }],
    ['no subject (taken as the context patient)', undefined],
    ['a subject by display only', { display: 'Testpatient' }],
  ])('accepted: %s', async (_name, subject) => {
    const body = valid();
    if (subject === undefined) delete order(body)['subject'];
    else order(body)['subject'] = subject;
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(200);
    expect(res.body.systemActions).toHaveLength(1);
  });

  test('a NutritionOrder names its patient in `patient`', async () => {
    const body = valid();
    body['context']['draftOrders']['entry'][0]['resource'] = {
      resourceType: 'NutritionOrder',
      id: 'no-1',
      status: 'draft',
      intent: 'order',
      patient: { reference: 'Patient/other' },
      dateTime: '2026-11-23',
    };
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(422);
    expect(res.body.issue[0].expression).toEqual([`${ENTRY}.patient`]);
  });
});

const tolerated: { name: string; mutate: Mutation }[] = [
  { name: 'a draftOrders Bundle without type', mutate: (r) => delete r['context']['draftOrders']['type'] },
  { name: 'intent "plan"', mutate: (r) => (r['context']['draftOrders']['entry'][0]['resource']['intent'] = 'plan') },
  {
    name: 'an order that is not valid R4 (category as an object, unknown element)',
    mutate: (r) => {
      const sr = r['context']['draftOrders']['entry'][0]['resource'];
      sr['category'] = { text: 'not an array' };
      sr['madeUpElement'] = true;
    },
  },
  { name: 'unknown context keys', mutate: (r) => (r['context']['selections'] = ['ServiceRequest/x']) },
  { name: 'unknown extension keys', mutate: (r) => (r['extension'] = { 'com.example.other': { a: 1 } }) },
  {
    name: 'unsupported davinci-crd.configuration codes and values of the wrong type',
    mutate: (r) =>
      (r['extension'] = { 'davinci-crd.configuration': { 'alt-drug': true, 'max-cards': '3', guideline: 'no' } }),
  },
  { name: 'an empty encounterId', mutate: (r) => (r['context']['encounterId'] = '') },
  {
    name: 'prefetch keys the service did not ask for',
    mutate: (r) => (r['prefetch']['serviceRequestBundle'] = { resourceType: 'Bundle' }),
  },
  { name: 'null prefetch values', mutate: (r) => (r['prefetch']['conditions'] = null) },
  { name: 'a null encounterId', mutate: (r) => (r['context']['encounterId'] = null) },
  { name: 'patientId given as a reference', mutate: (r) => (r['context']['patientId'] = 'Patient/pat-renal-1') },
  { name: 'a hookInstance that is not a UUID', mutate: (r) => (r['hookInstance'] = 'instance-1') },
  { name: 'an empty draftOrders Bundle', mutate: (r) => (r['context']['draftOrders'] = { resourceType: 'Bundle' }) },
];

describe('tolerated: what real clients send', () => {
  test.each(tolerated)('$name → 200', async ({ mutate }) => {
    const body = valid();
    mutate(body);
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ cards: expect.any(Array), systemActions: expect.any(Array) });
  });

  test('a repeated hookInstance is answered again, not deduplicated', async () => {
    const { app } = testApp();
    const first = await request(app).post(SERVICE).send(valid());
    const second = await request(app).post(SERVICE).send(valid());
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.body.cards.map((c: any) => c.summary)).toEqual(first.body.cards.map((c: any) => c.summary));
    expect(second.body.systemActions).toHaveLength(first.body.systemActions.length);
    expect(second.body.cards[0].uuid).not.toBe(first.body.cards[0].uuid);
  });
});

describe('error bodies never echo what the client sent (it may be PHI)', () => {
  test('a JSON syntax error names the position, not the text around it', async () => {
    const res = await request(testApp().app)
      .post(SERVICE)
      .set('Content-Type', 'application/json')
      .send('{"name": Jane Doe}');
    expect(res.status).toBe(400);
    expect(res.text).not.toContain('Jane');
    expect(res.body.issue[0].diagnostics).toMatch(/syntax error/);
  });

  test('a prefetch slot of the wrong type names the expected type, not the value received', async () => {
    const body = valid();
    body['prefetch']['coverage'] = { resourceType: 'SecretSmith' };
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(422);
    expect(res.text).not.toContain('SecretSmith');
  });

  test('a schema violation does not quote the offending value', async () => {
    const body = valid();
    body['context']['patientId'] = 'Jane Doe 1961-03-14';
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(422);
    expect(res.text).not.toContain('Jane');
  });
});

describe('404, 405, 413', () => {
  test('GET on an unknown service id → 404, not 405', async () => {
    const res = await request(testApp().app).get('/cds-services/no-such-service');
    expect(res.status).toBe(404);
  });

  test('unknown service id → 404 OperationOutcome', async () => {
    const res = await request(testApp().app).post('/cds-services/no-such-service').send(valid());
    expect(res.status).toBe(404);
    expectOutcome(res.body, 'not-found', /no-such-service/);
  });

  test('unknown path → 404 OperationOutcome', async () => {
    const res = await request(testApp().app).get('/nowhere');
    expect(res.status).toBe(404);
    expectOutcome(res.body, 'not-found');
  });

  test.each([
    ['get', SERVICE, 'POST, OPTIONS'],
    ['put', SERVICE, 'POST, OPTIONS'],
    ['post', '/cds-services', 'GET, OPTIONS'],
    ['delete', '/cds-services', 'GET, OPTIONS'],
    ['get', `${SERVICE}/feedback`, 'POST, OPTIONS'],
    ['post', '/health', 'GET, OPTIONS'],
  ] as const)('%s %s → 405 with Allow: %s', async (method, path, allow) => {
    const res = await request(testApp().app)[method](path);
    expect(res.status).toBe(405);
    expect(res.headers['allow']).toBe(allow);
    expectOutcome(res.body, 'not-supported');
  });

  test('a body over the limit → 413 OperationOutcome, not a 500', async () => {
    const body = JSON.stringify({ ...valid(), padding: 'x'.repeat(3000) });
    const res = await request(testApp({ CDS_BODY_LIMIT: '2kb' }).app)
      .post(SERVICE)
      .set('Content-Type', 'application/json')
      .send(body);
    expect(res.status).toBe(413);
    expectOutcome(res.body, 'too-long', /2kb/);
  });

  test('the default limit (5 MB) accepts a 1 MB request that express would refuse by default', async () => {
    const body = valid();
    body['prefetch']['unrequested'] = { resourceType: 'Basic', text: { div: 'x'.repeat(1024 * 1024) } };
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(200);
  });
});

describe('bounds on one request (422 beyond them)', () => {
  test('JSON nested deeper than CDS_MAX_JSON_DEPTH', async () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 100; i += 1) deep = { a: deep };
    const body = { ...valid(), extension: { deep } };
    const res = await request(testApp().app).post(SERVICE).send(body);
    expect(res.status).toBe(422);
    expect(res.body.issue[0].diagnostics).toMatch(/deeper than 64 levels/);
  });

  test('more draft orders than CDS_MAX_DRAFT_ORDERS', async () => {
    const body = valid();
    const order = body['context']['draftOrders']['entry'][0];
    body['context']['draftOrders']['entry'] = Array.from({ length: 4 }, (_, i) => ({
      resource: { ...order.resource, id: `o${i}` },
    }));
    const res = await request(testApp({ CDS_MAX_DRAFT_ORDERS: '3' }).app)
      .post(SERVICE)
      .send(body);
    expect(res.status).toBe(422);
    expect(res.body.issue[0].expression).toEqual(['context.draftOrders.entry']);
  });

  test('more prefetched resources than CDS_MAX_RESOURCES', async () => {
    const res = await request(testApp({ CDS_MAX_RESOURCES: '3' }).app)
      .post(SERVICE)
      .send(valid());
    expect(res.status).toBe(422);
    expect(res.body.issue[0].expression).toEqual(['prefetch']);
  });

  test('security headers on every answer', async () => {
    const res = await request(testApp().app).get('/cds-services');
    expect(res.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    });
  });
});

describe('feedback', () => {
  const FEEDBACK = `${SERVICE}/feedback`;
  test('accepts CDS Hooks 2.0 feedback and answers 200', async () => {
    const res = await request(testApp().app)
      .post(FEEDBACK)
      .send({
        feedback: [
          {
            card: '9368d37b-283f-44a0-93ea-547cebab93ed',
            outcome: 'overridden',
            overrideReason: {
              reason: { code: 'trial', system: 'https://example.org/override' },
              userComment: 'free text',
            },
            outcomeTimestamp: '2026-11-23T10:00:00Z',
          },
        ],
      });
    expect(res.status).toBe(200);
  });

  test('accepts the early Sandbox shape where overrideReason is a bare Coding, and logs only its code', async () => {
    const t = testApp();
    const res = await request(t.app)
      .post(FEEDBACK)
      .send({
        feedback: [
          { card: 'c1', outcome: 'overridden', overrideReason: { code: 'p2p', system: 's' }, outcomeTimestamp: 'now' },
        ],
      });
    expect(res.status).toBe(200);
    const line = t.logs.find((l) => l['path'] === FEEDBACK);
    expect(line?.['feedback']).toEqual([{ card: 'c1', outcome: 'overridden', overrideReason: 'p2p' }]);
  });

  test('rejects feedback without outcome with 422 naming the path', async () => {
    const res = await request(testApp().app)
      .post(FEEDBACK)
      .send({ feedback: [{ card: 'c1', outcomeTimestamp: 'now' }] });
    expect(res.status).toBe(422);
    expect(res.body.issue[0].expression).toEqual(['feedback[0].outcome']);
  });

  test('more than 100 entries in one call → 422 saying to send the rest in another call; 100 are accepted', async () => {
    const entries = (n: number) =>
      Array.from({ length: n }, (_, i) => ({
        card: `c${i}`,
        outcome: 'accepted',
        outcomeTimestamp: '2026-11-23T12:00:00Z',
      }));
    const app = testApp().app;
    const tooMany = await request(app)
      .post(FEEDBACK)
      .send({ feedback: entries(101) });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.issue[0]).toMatchObject({ expression: ['feedback'] });
    expect(tooMany.body.issue[0].diagnostics).toMatch(/at most 100 entries per call: send the rest in another call/);
    expect(
      (
        await request(app)
          .post(FEEDBACK)
          .send({ feedback: entries(100) })
      ).status,
    ).toBe(200);
  });

  test('feedback for an unknown service → 404', async () => {
    const res = await request(testApp().app).post('/cds-services/nope/feedback').send({ feedback: [] });
    expect(res.status).toBe(404);
  });
});

describe('response hygiene', () => {
  test('no x-powered-by header', async () => {
    const res = await request(testApp().app).get('/cds-services');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  test('an internal failure is a 500 OperationOutcome without details; the log has its kind and where, not its message', async () => {
    const t = testApp();
    const broken = createApp({
      config: t.config,
      registry: {
        services: t.registry.services,
        get: () => {
          throw new Error('registry exploded at secret place');
        },
      },
      logger: createLogger('error', sink),
      store: t.store,
      metrics: t.metrics,
    });
    const res = await request(broken).post(SERVICE).send(valid());
    expect(res.status).toBe(500);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.text).not.toMatch(/exploded|secret|\.ts:\d+/);
    // A driver's or parser's message can quote request or record values: the log keeps the error's name and frames.
    const line = logged.join('');
    expect(line).toContain('unhandled error');
    expect(line).toMatch(/"name":"Error"/);
    expect(line).toMatch(/"stack":\["\s*at /);
    expect(line).not.toMatch(/exploded|secret/);
  });
});

const logged: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    logged.push(chunk.toString());
    cb();
  },
});
