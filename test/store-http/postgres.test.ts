import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { clientJwt } from '../support/jwt.js';
import {
  SERVICE,
  appOn,
  assertionIds,
  cleanupTargets,
  eventually,
  lookup,
  outOfScopeRequest,
  postgresUrl,
  sign,
  startProxy,
  targetFor,
  token,
  trackApps,
} from './support.js';

afterAll(cleanupTargets, 60_000);

const TIMEOUT = { timeout: 90_000 };
const track = trackApps();

describe.skipIf(postgresUrl === undefined)('several instances on one PostgreSQL', () => {
  it('two instances answer concurrently with unique ids, each readable from either', TIMEOUT, async () => {
    const target = await targetFor('postgres');
    const [a, b] = [track(await appOn(target)), track(await appOn(target))];
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => sign(i % 2 === 0 ? a : b)));
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
    const ids = answers.flatMap((r) => assertionIds(r.body));
    expect(new Set(ids).size).toBe(20);
    for (const id of ids) {
      expect((await lookup(a, id)).body.id).toBe(id);
      expect((await lookup(b, id)).body.id).toBe(id);
    }
  });

  it('one client JWT sent to both instances is accepted once, also when sent at the same time', TIMEOUT, async () => {
    const target = await targetFor('postgres');
    const [a, b] = [track(await appOn(target)), track(await appOn(target))];
    const jwt = await token(a, SERVICE);
    expect((await sign(a, undefined, jwt)).status).toBe(200);
    expect((await sign(b, undefined, jwt)).status).toBe(401);
    const aud = `${a.config.publicBaseUrl}${SERVICE}`;
    for (let i = 0; i < 5; i += 1) {
      const shared = await clientJwt({ aud });
      const statuses = (await Promise.all([sign(a, undefined, shared), sign(b, undefined, shared)]))
        .map((r) => r.status)
        .sort();
      expect(statuses).toEqual([200, 401]);
    }
  });
});

describe.skipIf(postgresUrl === undefined)('the database cut mid-run (a TCP proxy the test closes)', () => {
  it(
    '503 for in-scope calls, discovery and out-of-scope calls answer, no lost and no phantom assertion, recovery without a restart',
    TIMEOUT,
    async () => {
      const target = await targetFor('postgres');
      const server = target.server!;
      let proxy = await startProxy(server.host, server.port);
      const url = new URL(server.url);
      url.host = `127.0.0.1:${proxy.port}`;
      const app = track(await appOn(target, { DATABASE_URL: url.toString() }));
      const answered: string[] = [];
      const refused: request.Response[] = [];
      const run = async (n: number) => {
        for (let i = 0; i < n; i += 1) {
          const res = await sign(app);
          if (res.status === 200) answered.push(...assertionIds(res.body));
          else refused.push(res);
        }
      };

      await run(5);
      expect(answered).toHaveLength(5);
      await proxy.close();
      await run(5);
      expect(refused).toHaveLength(5);
      for (const r of refused) {
        expect(r.status).toBe(503);
        expect(r.headers['retry-after']).toBe('5');
        expect(r.body.resourceType).toBe('OperationOutcome');
        expect(JSON.stringify(r.body)).not.toContain('coverage-assertion-id');
      }
      const discovery = await request(app.app)
        .get('/cds-services')
        .set('Authorization', `Bearer ${await token(app, '/cds-services')}`);
      expect(discovery.status).toBe(200);
      const outOfScope = await request(app.app)
        .post(SERVICE)
        .set('Authorization', `Bearer ${await token(app, SERVICE)}`)
        .send(outOfScopeRequest());
      expect(outOfScope.status).toBe(200);
      expect((await request(app.app).get('/ready')).status).toBe(503);
      expect((await request(app.app).get('/metrics')).text).toContain('crd_store_available 0');

      proxy = await startProxy(server.host, server.port, proxy.port);
      await eventually(async () => (await request(app.app).get('/ready')).status === 200);
      await run(5);
      expect(answered).toHaveLength(10);
      expect(refused).toHaveLength(5);

      const direct = await Store.open(target.config());
      try {
        for (const id of answered) expect((await direct.getAssertion(id))?.id).toBe(id);
        const all = await direct.auditRecords({ limit: 10_000 });
        expect(
          all.filter((r) => r.kind === 'hook-call' && r.status === 200 && r.response !== null).length,
        ).toBeGreaterThanOrEqual(11);
        // No phantom: the database holds exactly the assertions that were answered.
        const hookInstances = new Set(all.map((r) => r.hookInstance));
        let stored = 0;
        for (const h of hookInstances) if (h !== null) stored += (await direct.assertionsByHookInstance(h)).length;
        expect(stored).toBe(answered.length);
        // The audit records of discovery and the out-of-scope call, queued while cut, were written on recovery.
        await eventually(async () =>
          (await direct.auditRecords({ limit: 10_000 })).some((r) => r.kind === 'discovery'),
        );
      } finally {
        await direct.close();
        await proxy.close();
      }
    },
  );
});
