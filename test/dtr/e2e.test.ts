import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { classifyAnswers, markOrigins } from '../../src/dtr/information-origin.js';
import { testApp, type TestApp } from '../support/app.js';
import { checkOutputParameters, checkQuestionnaireResponse } from '../support/dtr-profiles.js';
import { accessToken, clientAssertion, dtrClient, postPackage, type DtrClient } from '../support/dtr-client.js';
import { scenarioFiles } from '../support/scenarios.js';

/**
 * Issue 12 end to end through the mounted service: order-sign → documentation needed with a questionnaire and an
 * assertion id → a SMART Backend Services token → `$questionnaire-package` by `context` → the pre-filled response
 * holds exactly the record-decided answers, marked auto → the clinician's answers added (manual, as a DTR client
 * marks them) → completed → the next order-sign, with the response in prefetch and linked by qr-context, is covered.
 */

const SERVICE = '/cds-services/cryoablation-order-sign';
const CI = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';
const NOW = new Date('2026-11-23T12:00:00Z');
const NOW_SEC = Math.floor(NOW.getTime() / 1000);
const CLINICIAN = { practitioner: { reference: 'Practitioner/dr-1' } };
// eGFR too old to count: section V is indicated by the record, every path of it is open.
const SCENARIO = 'V-renal/egfr-stale-unknown';

type Rec = Record<string, any>;

// Each sign a second later: "the latest assertion of the order" is told by its time (a tie within one
// millisecond falls back to the id, which is random).
let elapsedMs = 0;
const clock = () => new Date(NOW.getTime() + elapsedMs);

let t: TestApp;
let server: Server;
let client: DtrClient;

function scenario(id: string): Rec {
  const [file, name] = id.split('/');
  const s = scenarioFiles().find((x) => x.file === file && x.name === name);
  if (!s) throw new Error(`no scenario ${id}`);
  return structuredClone(s.fixture.request);
}

const listening = async (s: Server) => (await once(s.listen(0, '127.0.0.1'), 'listening'), s);

beforeAll(async () => {
  client = dtrClient();
  t = testApp({ CDS_TRUSTED_CLIENTS: client.trustedClientsFile }, clock);
  server = await listening(createServer(t.app));
});

afterAll(async () => {
  await new Promise<void>((done) => server.close(() => done()));
  await t.close();
});

const coverageInformation = (order: Rec): Rec => order['extension'].find((e: Rec) => e['url'] === CI);
const part = (ci: Rec, url: string): any => {
  const e = ci['extension'].find((x: Rec) => x['url'] === url);
  return e && (e.valueString ?? e.valueCode ?? e.valueCanonical ?? e.valueReference);
};

async function sign(body: Rec): Promise<{ order: Rec; ci: Rec; cards: Rec[] }> {
  elapsedMs += 1000;
  const res = await request(server)
    .post(SERVICE)
    .send({ ...body, hookInstance: randomUUID() });
  expect(res.status).toBe(200);
  const order = res.body.systemActions[0].resource as Rec;
  return { order, ci: coverageInformation(order), cards: res.body.cards };
}

const packageBody = (coverage: Rec, params: Rec[]) => ({
  resourceType: 'Parameters',
  parameter: [{ name: 'coverage', resource: coverage }, ...params],
});

function bundleOf(output: Rec): { q: Rec; qr: Rec } {
  const bundle = output['parameter'].find((p: Rec) => p['name'] === 'PackageBundle').resource;
  return { q: bundle.entry[0].resource, qr: bundle.entry[1].resource };
}

/** Questionnaire items enabled by the indication answered (the generator's shape: groups enabled by the indication). */
function enabledLinkIds(q: Rec, indication: string | undefined): Set<string> {
  const out = new Set<string>();
  const visit = (items: Rec[] | undefined) => {
    for (const item of items ?? []) {
      const when = item['enableWhen'] as Rec[] | undefined;
      if (when && !when.some((w) => w['question'] === 'indication' && w['answerCoding']?.code === indication)) continue;
      out.add(item['linkId']);
      visit(item['item']);
    }
  };
  visit(q['item']);
  return out;
}

/** The criteria the stored evaluation says the record decided, by linkId: true met, false not met. */
function recordDecided(trace: Rec): Map<string, boolean> {
  const out = new Map<string, boolean>();
  const walk = (n: Rec) => {
    if (n['decidedBy'] === 'record' && n['state'] !== 'unknown' && !out.has(n['id']))
      out.set(n['id'], n['state'] === 'met');
    (n['children'] as Rec[]).forEach(walk);
  };
  [...trace['general'], ...(trace['exclusions'] ?? []), ...trace['sections'].map((s: Rec) => s['result'])].forEach(
    walk,
  );
  return out;
}

/** A clinician's answer to `linkId` under its group (created in the Questionnaire's order when absent). */
function answer(qr: Rec, q: Rec, linkId: string, value: boolean): Rec {
  const next = structuredClone(qr);
  const group = q['item'].find((i: Rec) => (i['item'] ?? []).some((c: Rec) => c['linkId'] === linkId));
  const order = (id: string) => q['item'].findIndex((i: Rec) => i['linkId'] === id);
  const place = (items: Rec[], item: Rec) => [...items, item].sort((a, b) => order(a['linkId']) - order(b['linkId']));
  const leaf = { linkId, answer: [{ valueBoolean: value }] };
  if (!group) {
    const own = next['item'].find((i: Rec) => i['linkId'] === linkId);
    if (own) own['answer'] = leaf.answer;
    else next['item'] = place(next['item'], leaf);
    return next;
  }
  const existing = next['item'].find((i: Rec) => i['linkId'] === group['linkId']);
  if (existing) existing['item'] = [...(existing['item'] ?? []), leaf];
  else next['item'] = place(next['item'], { linkId: group['linkId'], item: [leaf] });
  return next;
}

/** The next sign: the order as the EHR kept it (with its coverage-information) and the completed response. */
function resign(body: Rec, order: Rec, completed: Rec): Rec {
  const next = structuredClone(body);
  next['context']['draftOrders']['entry'][0]['resource'] = order;
  const bundle = next['prefetch']['questionnaireResponses'] ?? { resourceType: 'Bundle', type: 'searchset', entry: [] };
  bundle['entry'] = [...(bundle['entry'] ?? []), { resource: completed }];
  next['prefetch']['questionnaireResponses'] = bundle;
  return next;
}

describe('the documentation loop (issue 12) through the mounted service', () => {
  test('order-sign → package by context with a Backend Services token → clinician answers → the next order-sign is covered', async () => {
    const body = scenario(SCENARIO);
    const coverage = body['prefetch']['coverage']['entry'][0]['resource'];
    const first = await sign(body);
    expect(part(first.ci, 'covered')).toBe('conditional');
    expect(part(first.ci, 'doc-needed')).toBe('clinical');
    const canonical = part(first.ci, 'questionnaire') as string;
    expect(canonical).toMatch(/\|/);
    const assertionId = part(first.ci, 'coverage-assertion-id') as string;

    // The persist stage kept what the package needs (item 2).
    const stored = (await (await t.store.get())!.store.getAssertion(assertionId))!;
    expect(stored).toMatchObject({
      orderRef: `ServiceRequest/${String(body['context']['draftOrders']['entry'][0]['resource']['id'])}`,
      coverageRef: `Coverage/${coverage.id}`,
      patientRef: `Patient/${body['context']['patientId']}`,
      questionnaireCanonical: canonical,
      coverageInformation: first.ci,
    });
    expect((stored.trace as Rec)['outcome']).toBe('documentation-needed');

    const token = await accessToken(server, client, NOW_SEC);
    const res = await postPackage(
      server,
      packageBody(coverage, [{ name: 'context', valueString: assertionId }]),
      token,
    );
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const output = JSON.parse(res.text) as Rec;
    expect(checkOutputParameters(output)).toEqual([]);
    const { q, qr } = bundleOf(output);
    expect(`${q['url']}|${q['version']}`).toBe(canonical);
    expect(qr).toMatchObject({
      status: 'in-progress',
      questionnaire: canonical,
      subject: { reference: `Patient/${body['context']['patientId']}` },
    });

    // Exactly the record-decided answers, each marked auto.
    const answers = classifyAnswers(qr);
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.every((a) => a.origin === 'auto')).toBe(true);
    const indication = answers.find((a) => a.linkId === 'indication')?.value['valueCoding'] as Rec | undefined;
    const recordIndication = (stored.trace as Rec)['sections'].find(
      (s: Rec) => s['indication']['decidedBy'] === 'record' && s['indication']['state'] === 'met',
    );
    expect(indication?.['code']).toBe(recordIndication?.['id']);
    const enabled = enabledLinkIds(q, indication?.['code']);
    const expected = [...recordDecided(stored.trace as Rec)].filter(([id]) => enabled.has(id) && id !== 'indication');
    expect(
      Object.fromEntries(
        answers.filter((a) => a.linkId !== 'indication').map((a) => [a.linkId, a.value['valueBoolean']]),
      ),
    ).toEqual(Object.fromEntries(expected));

    // The clinician answers what only they can know; the DTR client marks those answers manual.
    const asked = answer(answer(qr, q, 'V.B', true), q, 'attestation', true);
    const completed = {
      ...markOrigins(asked as fhir4.QuestionnaireResponse, qr as fhir4.QuestionnaireResponse, CLINICIAN),
      id: 'qr-dtr-1',
      status: 'completed' as const,
    };
    expect(checkQuestionnaireResponse(completed as unknown as Rec, q)).toEqual([]);
    const origins = Object.fromEntries(classifyAnswers(completed).map((a) => [a.linkId, a.origin]));
    expect(origins).toMatchObject({ 'V.B': 'manual', attestation: 'manual', indication: 'auto' });

    const second = await sign(resign(body, first.order, completed));
    expect(part(second.ci, 'covered')).toBe('covered');
    expect(part(second.ci, 'coverage-assertion-id')).not.toBe(assertionId);
    const decided = (await (await t.store.get())!.store.getAssertion(part(second.ci, 'coverage-assertion-id')))!;
    expect(decided.decision).toBe('covered');
    expect(JSON.stringify(decided.trace)).toContain('QuestionnaireResponse/qr-dtr-1');
  });

  test("the package found by the order's reference (no context): the latest assertion of that order and coverage", async () => {
    const body = scenario(SCENARIO);
    const coverage = body['prefetch']['coverage']['entry'][0]['resource'];
    const { order, ci } = await sign(body);
    const res = await postPackage(
      server,
      packageBody(coverage, [{ name: 'order', resource: order }]),
      await accessToken(server, client, NOW_SEC, 'system/Questionnaire.read'),
    );
    expect(res.status).toBe(200);
    const output = JSON.parse(res.text) as Rec;
    expect(checkOutputParameters(output)).toEqual([]);
    const { qr } = bundleOf(output);
    expect(qr['questionnaire']).toBe(part(ci, 'questionnaire'));
    expect(classifyAnswers(qr).length).toBeGreaterThan(0);
    expect(
      t.logs.some(
        (l) =>
          l['path'] === '/fhir/Questionnaire/$questionnaire-package' &&
          l['assertionId'] === part(ci, 'coverage-assertion-id'),
      ),
    ).toBe(true);
  });

  test("another member's Coverage never gets this member's pre-filled answers", async () => {
    const body = scenario(SCENARIO);
    const coverage = body['prefetch']['coverage']['entry'][0]['resource'];
    const { order, ci } = await sign(body);
    const stranger = { ...coverage, beneficiary: { reference: 'Patient/someone-else' } };
    const token = await accessToken(server, client, NOW_SEC, 'system/Questionnaire.read');
    const byContext = await postPackage(
      server,
      packageBody(stranger, [{ name: 'context', valueString: part(ci, 'coverage-assertion-id') }]),
      token,
    );
    expect(byContext.status).toBe(422);
    expect(byContext.text).toMatch(/another member/);
    const byOrder = await postPackage(server, packageBody(stranger, [{ name: 'order', resource: order }]), token);
    // By the order alone, the stored evaluation is not this member's: nothing pre-filled is handed out.
    expect(byOrder.status).toBe(404);
  });

  test('every package call is in the audit trail: the client, the status and the assertion handed out', async () => {
    const body = scenario(SCENARIO);
    const coverage = body['prefetch']['coverage']['entry'][0]['resource'];
    const { ci } = await sign(body);
    const assertionId = part(ci, 'coverage-assertion-id') as string;
    const token = await accessToken(server, client, NOW_SEC, 'system/Questionnaire.read');
    const context = (id: string) => packageBody(coverage, [{ name: 'context', valueString: id }]);
    expect((await postPackage(server, context(assertionId), token)).status).toBe(200);
    expect((await postPackage(server, context('no-such-assertion'), token)).status).toBe(404);
    const store = (await t.store.get())!.store;
    const packages = async () =>
      (await store.auditRecords()).filter(
        (r) => r.kind === 'questionnaire-package' && r.createdAt >= new Date(Date.now() - 60_000).toISOString(),
      );
    await vi.waitFor(
      async () => expect((await packages()).map((r) => r.status)).toEqual(expect.arrayContaining([200, 404])),
      {
        timeout: 10_000,
      },
    );
    const handedOut = (await packages()).filter(
      (r) => r.status === 200 && (r.response as Rec | null)?.['assertion'] === assertionId,
    );
    expect(handedOut).toHaveLength(1);
    expect(handedOut[0]).toMatchObject({
      clientIss: client.iss,
      requestMeta: { path: '/fhir/Questionnaire/$questionnaire-package' },
    });
    expect(JSON.stringify(await packages())).not.toContain(token);
  });

  test('without a token: 401 with an RFC 6750 challenge; a token not issued here: invalid_token', async () => {
    const coverage = scenario(SCENARIO)['prefetch']['coverage']['entry'][0]['resource'];
    const none = await postPackage(server, packageBody(coverage, [{ name: 'context', valueString: 'x' }]));
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="dtr"');
    expect(JSON.parse(none.text).resourceType).toBe('OperationOutcome');
    const forged = await postPackage(
      server,
      packageBody(coverage, [{ name: 'context', valueString: 'x' }]),
      'eyJhbGciOiJub25lIn0.e30.',
    );
    expect(forged.status).toBe(401);
    expect(forged.headers['www-authenticate']).toMatch(
      /^Bearer realm="dtr", error="invalid_token", error_description="/,
    );
    expect(t.logText()).not.toContain('eyJhbGciOiJub25lIn0');
  });

  test('bad inputs: 4xx OperationOutcomes', async () => {
    const coverage = scenario(SCENARIO)['prefetch']['coverage']['entry'][0]['resource'];
    const token = await accessToken(server, client, NOW_SEC);
    const cases: [string, unknown, number][] = [
      ['no coverage', { resourceType: 'Parameters', parameter: [{ name: 'context', valueString: 'x' }] }, 400],
      [
        'unknown canonical',
        packageBody(coverage, [{ name: 'questionnaire', valueCanonical: 'https://nope.example/Questionnaire/q|1' }]),
        404,
      ],
      ['unknown assertion', packageBody(coverage, [{ name: 'context', valueString: 'no-such-assertion' }]), 404],
      ['malformed Parameters', { resourceType: 'Parameters', parameter: 'coverage' }, 400],
      ['not JSON', '{"resourceType":', 400],
    ];
    for (const [name, body, status] of cases) {
      const res = await postPackage(server, body, token);
      expect(res.status, name).toBe(status);
      expect(res.headers['content-type'], name).toMatch(/application\/fhir\+json/);
      expect(JSON.parse(res.text).resourceType, name).toBe('OperationOutcome');
    }
  });

  test('a client assertion is accepted once (its jti claimed through the store)', async () => {
    const smart = await request(server).get('/.well-known/smart-configuration');
    const endpoint = String(smart.body.token_endpoint);
    const { port } = server.address() as AddressInfo;
    expect(endpoint).toBe(`http://127.0.0.1:${port}/auth/token`);
    const assertion = await clientAssertion(client, endpoint, NOW_SEC);
    const form = {
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      scope: 'system/Questionnaire.rs',
    };
    expect((await request(server).post('/auth/token').type('form').send(form)).status).toBe(200);
    const again = await request(server).post('/auth/token').type('form').send(form);
    expect(again.status).toBe(400);
    expect(again.body.error).toBe('invalid_grant');
  });

  test('metadata, smart-configuration and the Questionnaire routes answer; one Questionnaire search', async () => {
    const meta = await request(server).get('/fhir/metadata');
    expect(meta.status).toBe(200);
    expect(JSON.parse(meta.text)).toMatchObject({
      resourceType: 'CapabilityStatement',
      rest: [{ resource: [{ type: 'Questionnaire', operation: [{ name: 'questionnaire-package' }] }] }],
    });
    const smart = await request(server).get('/.well-known/smart-configuration');
    expect(smart.body).toMatchObject({
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
    });
    const q = await request(server).get('/fhir/Questionnaire/cryoablation-medical-necessity');
    expect(q.status).toBe(200);
    const url = JSON.parse(q.text).url as string;
    const found = JSON.parse((await request(server).get('/fhir/Questionnaire').query({ url })).text);
    expect(found).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });
    // The app's search (not a second one): it refuses parameters it does not support.
    expect((await request(server).get('/fhir/Questionnaire').query({ name: 'x' })).status).toBe(400);
    expect((await request(server).get('/fhir/Questionnaire/$questionnaire-package')).status).toBe(405);
  });
});

describe('the store cannot answer', () => {
  test('the package is a 503 OperationOutcome with Retry-After', async () => {
    const probe = createServer();
    await listening(probe);
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((done) => probe.close(() => done()));
    const down = testApp(
      {
        CDS_TRUSTED_CLIENTS: client.trustedClientsFile,
        DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/none`,
        CDS_STORE_RETRY_MS: '200',
      },
      () => NOW,
    );
    const s = await listening(createServer(down.app));
    try {
      const coverage = scenario(SCENARIO)['prefetch']['coverage']['entry'][0]['resource'];
      const res = await postPackage(
        s,
        packageBody(coverage, [{ name: 'context', valueString: 'a1' }]),
        await accessToken(s, client, NOW_SEC),
      );
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(JSON.parse(res.text).resourceType).toBe('OperationOutcome');
    } finally {
      await new Promise<void>((done) => s.close(() => done()));
      await down.close();
    }
  }, 30_000);
});
