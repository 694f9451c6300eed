import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { decisionSignature } from '../../src/cds-hooks/stages/persist.js';
import { testApp } from '../support/app.js';
import { DEV_ISS } from '../support/jwt.js';
import {
  ADMIN_TOKEN,
  SERVICE,
  appOn,
  assertionIds,
  cleanupTargets,
  dumpRows,
  engines,
  eventually,
  lookup,
  outOfScopeRequest,
  sign,
  signRequest,
  targetFor,
  token,
  trackApps,
} from './support.js';

afterAll(cleanupTargets, 60_000);

const TIMEOUT = { timeout: 60_000 };
const track = trackApps();

describe.each(engines)('the store behind the HTTP interface (%s)', (engine) => {
  it(
    'every assertion id in a response is committed and readable by a consumer, with decision, trace and order',
    TIMEOUT,
    async () => {
      const app = track(await appOn(await targetFor(engine)));
      const res = await sign(app);
      expect(res.status).toBe(200);
      const ids = assertionIds(res.body);
      expect(ids).toHaveLength(1);
      const read = await lookup(app, ids[0]!);
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({
        id: ids[0],
        serviceId: 'cryoablation-order-sign',
        orderRef: 'ServiceRequest/sr-renal-cryo-1',
        coverageRef: expect.stringMatching(/^Coverage\//),
        decision: 'covered',
        orderSnapshot: { resourceType: 'ServiceRequest', id: 'sr-renal-cryo-1' },
        // The client whose JWT signed the call (the audit record's client_iss too).
        clientIss: DEV_ISS,
        feedback: [],
      });
      expect(read.body.coverageInformation).toEqual(res.body.systemActions[0].resource.extension.at(-1));
      expect(read.body.trace).toMatchObject({ outcome: read.body.decision, sections: expect.any(Array) });
      expect(read.body.policyVersion).toMatch(/^sha256:/);
    },
  );

  it(
    'GET /coverage-assertions/{id}: 401 with an RFC 6750 challenge without a valid token, 404 for an unknown id, every lookup audited with the consumer',
    TIMEOUT,
    async () => {
      const app = track(await appOn(await targetFor(engine)));
      const none = await lookup(app, 'x', null);
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toBe('Bearer realm="coverage-assertions"');
      const wrong = await lookup(app, 'x', 'not-the-token');
      expect(wrong.status).toBe(401);
      expect(wrong.headers['www-authenticate']).toContain('error="invalid_token"');
      // A CDS client JWT is not a consumer credential.
      expect((await lookup(app, 'x', await token(app, '/coverage-assertions/x'))).status).toBe(401);
      const unknown = await lookup(app, 'no-such-id');
      expect(unknown.status).toBe(404);
      expect(unknown.body.resourceType).toBe('OperationOutcome');
      const store = (await app.store.get())!.store;
      await eventually(async () => (await store.auditRecords({ consumer: 'admin' })).length === 1);
      const [record] = await store.auditRecords({ consumer: 'admin' });
      expect(record).toMatchObject({ kind: 'admin-lookup', consumer: 'admin', status: 404 });
    },
  );

  it('the endpoint is off (404) without a consumer', TIMEOUT, async () => {
    const app = track(testApp({ LOG_LEVEL: 'silent' }));
    expect(
      (await request(app.app).get('/coverage-assertions/x').set('Authorization', `Bearer ${ADMIN_TOKEN}`)).status,
    ).toBe(404);
  });

  it('assertions survive a restart of the app on the same data', TIMEOUT, async () => {
    const target = await targetFor(engine);
    const first = await appOn(target);
    const ids = assertionIds((await sign(first)).body);
    expect(ids).toHaveLength(1);
    await first.close();
    const second = track(await appOn(target));
    expect((await lookup(second, ids[0]!)).body.id).toBe(ids[0]);
  });

  it(
    'concurrent calls in and out of scope and one JWT sent twice at once: each answered as alone, every id and audit record kept after a restart',
    TIMEOUT,
    async () => {
      const target = await targetFor(engine);
      const first = await appOn(target);
      const inScope = Array.from({ length: 6 }, () => signRequest());
      const outOfScope = Array.from({ length: 4 }, () => outOfScopeRequest());
      const shared = await token(first, SERVICE);
      const [signed, ignored, twice] = await Promise.all([
        Promise.all(inScope.map((body) => sign(first, body))),
        Promise.all(outOfScope.map((body) => sign(first, body))),
        Promise.all([sign(first, signRequest(), shared), sign(first, signRequest(), shared)]),
      ]);
      expect([...signed, ...ignored].map((r) => r.status)).toEqual(Array(10).fill(200));
      expect(ignored.map((r) => r.body)).toEqual(Array(4).fill({ cards: [], systemActions: [] }));
      expect(twice.map((r) => r.status).sort()).toEqual([200, 401]);
      const ids = signed.flatMap((r) => assertionIds(r.body));
      expect(new Set(ids).size).toBe(6);
      await first.close(); // the audit records written after the answers are committed before the store closes

      const second = track(await appOn(target));
      for (const id of ids) expect((await lookup(second, id)).body.id).toBe(id);
      const store = (await second.store.get())!.store;
      for (const body of [...inScope, ...outOfScope])
        expect(await store.auditRecords({ hookInstance: body['hookInstance'] as string })).toHaveLength(1);
    },
  );

  it(
    'feedback round trip: stored with the assertion of the card, a bare Coding as override reason',
    TIMEOUT,
    async () => {
      const app = track(await appOn(await targetFor(engine)));
      const res = await sign(app);
      const id = assertionIds(res.body)[0]!;
      const card = res.body.cards.find((c: { extension?: Record<string, unknown> }) => c.extension !== undefined);
      const path = `${SERVICE}/feedback`;
      const fb = await request(app.app)
        .post(path)
        .set('Authorization', `Bearer ${await token(app, path)}`)
        .send({
          feedback: [
            {
              card: card.uuid,
              outcome: 'overridden',
              overrideReason: { system: 'https://example.org/override', code: 'p2p' },
              outcomeTimestamp: '2026-11-23T12:01:00Z',
            },
          ],
        });
      expect(fb.status).toBe(200);
      const read = await lookup(app, id);
      expect(read.body.feedback).toEqual([
        expect.objectContaining({
          card: card.uuid,
          assertionId: id,
          outcome: 'overridden',
          overrideReason: { system: 'https://example.org/override', code: 'p2p', display: null },
        }),
      ]);
    },
  );

  it(
    'an unchanged re-sign gets no new system action; its assertion stays valid and its new cards link to it',
    TIMEOUT,
    async () => {
      const app = track(await appOn(await targetFor(engine)));
      const first = await sign(app);
      const [id] = assertionIds(first.body);
      const again = signRequest();
      again['context']['draftOrders']['entry'][0]['resource'] = first.body.systemActions[0].resource;
      const second = await sign(app, again);
      expect(second.status).toBe(200);
      expect(second.body.systemActions).toEqual([]);
      expect(second.body.cards.length).toBeGreaterThan(0);
      expect((await lookup(app, id!)).status).toBe(200);
      const store = (await app.store.get())!.store;
      const card = second.body.cards.find((c: { extension?: Record<string, unknown> }) => c.extension !== undefined);
      expect(await store.assertionIdForCard(card.uuid)).toBe(id);

      // An order whose assertion id this store does not know gets a new assertion.
      const foreign = structuredClone(first.body.systemActions[0].resource);
      const sub = foreign.extension.at(-1).extension.find((e: { url: string }) => e.url === 'coverage-assertion-id');
      sub.valueString = 'not-ours';
      const third = signRequest();
      third['context']['draftOrders']['entry'][0]['resource'] = foreign;
      const answered = await sign(app, third);
      expect(assertionIds(answered.body)).toHaveLength(1);
      expect(assertionIds(answered.body)[0]).not.toBe(id);

      // An order whose known assertion was edited (covered changed, id kept) gets a new assertion, not silence.
      const edited = structuredClone(first.body.systemActions[0].resource);
      const covered = edited.extension.at(-1).extension.find((e: { url: string }) => e.url === 'covered');
      covered.valueCode = covered.valueCode === 'covered' ? 'conditional' : 'covered';
      const fourth = signRequest();
      fourth['context']['draftOrders']['entry'][0]['resource'] = edited;
      const corrected = await sign(app, fourth);
      expect(assertionIds(corrected.body)).toHaveLength(1);
      expect(assertionIds(corrected.body)[0]).not.toBe(id);
    },
  );

  it('no access token, JWT or Authorization header in any stored row', TIMEOUT, async () => {
    const target = await targetFor(engine);
    const app = track(await appOn(target));
    const jwt = await token(app, SERVICE);
    const body = {
      ...signRequest(),
      fhirServer: 'http://127.0.0.1:9/fhir',
      fhirAuthorization: {
        access_token: 'secret-access-token-xyz',
        token_type: 'Bearer',
        expires_in: 300,
        scope: 'patient/*.read',
        subject: 'crd',
      },
    };
    expect((await sign(app, body, jwt)).status).toBe(200);
    const disc = await request(app.app)
      .get('/cds-services')
      .set('Authorization', `Bearer ${await token(app, '/cds-services')}`);
    expect(disc.status).toBe(200);
    const store = (await app.store.get())!.store;
    await eventually(async () => (await store.auditRecords()).length >= 2);
    const text = JSON.stringify(await dumpRows(target));
    expect(text).toContain('sr-renal-cryo-1');
    for (const secret of ['secret-access-token-xyz', jwt, jwt.split('.')[2]!, 'Bearer ey'])
      expect(text).not.toContain(secret);
  });

  it('discovery and an out-of-scope call are audited too; /ready and /metrics answer', TIMEOUT, async () => {
    const app = track(await appOn(await targetFor(engine)));
    expect(
      (
        await request(app.app)
          .post(SERVICE)
          .set('Authorization', `Bearer ${await token(app, SERVICE)}`)
          .send(outOfScopeRequest())
      ).body,
    ).toEqual({ cards: [], systemActions: [] });
    const store = (await app.store.get())!.store;
    await eventually(async () => (await store.auditRecords()).length === 1);
    expect((await request(app.app).get('/ready')).status).toBe(200);
    await sign(app);
    const metrics = await request(app.app).get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain(
      'crd_order_sign_requests_total{service="cryoablation-order-sign",status="200",decision="none"} 1',
    );
    expect(metrics.text).toMatch(
      /crd_order_sign_duration_seconds_bucket\{le="5",service="cryoablation-order-sign"\} 2/,
    );
    expect(metrics.text).toContain('crd_order_sign_under_5s_ratio 1');
    expect(metrics.text).toContain('crd_store_available 1');
    expect(metrics.text).toContain('crd_audit_records_dropped_total 0');
  });
});

describe('a store that cannot be opened (SQLite file in a folder that is a file)', () => {
  it(
    'in-scope calls get 503 with Retry-After and no assertion id; discovery and out-of-scope calls answer; /ready is 503',
    TIMEOUT,
    async () => {
      const app = track(
        testApp({
          CDS_AUTH: 'off',
          LOG_LEVEL: 'silent',
          CDS_DATA_DIR: new URL('../../package.json', import.meta.url).pathname,
        }),
      );
      const res = await request(app.app).post(SERVICE).send(signRequest());
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(JSON.stringify(res.body)).not.toContain('coverage-assertion-id');
      expect((await request(app.app).get('/cds-services')).status).toBe(200);
      expect((await request(app.app).post(SERVICE).send(outOfScopeRequest())).status).toBe(200);
      expect((await request(app.app).get('/ready')).status).toBe(503);
      expect((await request(app.app).get('/health')).status).toBe(200);
      expect((await request(app.app).get('/metrics')).text).toContain('crd_store_available 0');
    },
  );
});

describe('what counts as something new', () => {
  const ext = (questionnaire: string, covered = 'conditional') => ({
    url: 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information',
    extension: [
      { url: 'coverage', valueReference: { reference: 'Coverage/c' } },
      { url: 'covered', valueCode: covered },
      { url: 'questionnaire', valueCanonical: questionnaire },
      { url: 'date', valueDate: '2026-11-23' },
      { url: 'coverage-assertion-id', valueString: crypto.randomUUID() },
    ],
  });
  it('the date and the assertion id are not; a new questionnaire version and another coverage decision are', () => {
    expect(decisionSignature(ext('q|1.0.0'))).toBe(decisionSignature(ext('q|1.0.0')));
    expect(decisionSignature(ext('q|1.0.0'))).not.toBe(decisionSignature(ext('q|1.0.1')));
    expect(decisionSignature(ext('q|1.0.0'))).not.toBe(decisionSignature(ext('q|1.0.0', 'covered')));
  });
});
