import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ResilientStore, Store, isStoreUnavailable, type AssertionInput } from '../../src/store/index.js';
import { assertion, audit, cleanupTargets, postgresBehindProxy, postgresUrl, type Target } from './support.js';

afterAll(cleanupTargets, 60_000);

const TIMEOUT = { timeout: 60_000 };

/** A store reaching PostgreSQL through a TCP proxy the test can close and reopen on the same port. */
async function storeBehindProxy(): Promise<{
  target: Target;
  store: Store;
  cut: () => Promise<void>;
  restore: () => Promise<void>;
}> {
  const { target, url, cut, restore } = await postgresBehindProxy();
  const store = await Store.open(target.config({ url }));
  return { target, store, cut, restore };
}

function call(items: AssertionInput[]) {
  return {
    assertions: items,
    audit: audit(),
    jti: { iss: 'https://ehr.example', jti: randomUUID(), expiresAt: new Date(Date.now() + 60_000) },
  };
}

describe.skipIf(postgresUrl === undefined)('store on postgres when the database is cut', () => {
  it(
    'answers unavailable while cut, loses and invents nothing, and recovers without being recreated',
    TIMEOUT,
    async () => {
      const { target, store, cut, restore } = await storeBehindProxy();
      const direct = await Store.open(target.config());
      try {
        const before = Array.from({ length: 10 }, () => assertion());
        for (const a of before) expect((await store.recordCall(call([a]))).status).toBe('committed');

        await cut();
        const during = Array.from({ length: 5 }, () => assertion());
        for (const a of during) {
          const result = await store.recordCall(call([a]));
          expect(result.status).toBe('unavailable');
        }
        expect(await store.ready()).toBe(false);
        await expect(store.getAssertion(before[0]!.id)).rejects.toSatisfy(isStoreUnavailable);
        await expect(
          store.claimJti({ iss: 'x', jti: randomUUID(), expiresAt: new Date(Date.now() + 1000) }),
        ).rejects.toSatisfy(isStoreUnavailable);

        await restore();
        expect(await store.ready()).toBe(true);
        const after = assertion();
        expect((await store.recordCall(call([after]))).status).toBe('committed');

        for (const a of [...before, after]) expect((await direct.getAssertion(a.id))?.id).toBe(a.id);
        for (const a of during) expect(await direct.getAssertion(a.id)).toBeUndefined();
      } finally {
        await Promise.all([store.close(), direct.close()]);
      }
    },
  );

  it(
    'cut while calls are in flight: every committed call is kept, nothing appears that was not attempted',
    TIMEOUT,
    async () => {
      const { target, store, cut, restore } = await storeBehindProxy();
      const direct = await Store.open(target.config());
      try {
        const settledBefore = Array.from({ length: 10 }, () => assertion());
        for (const a of settledBefore) expect((await store.recordCall(call([a]))).status).toBe('committed');

        // 20 calls at once on a pool of 5; the proxy is cut as soon as the first of them has committed.
        const inFlight = Array.from({ length: 20 }, () => assertion());
        const pending = inFlight.map((a) => store.recordCall(call([a])));
        const cutDone = pending[0]!.then(() => cut());
        const settled = await Promise.all(pending);
        await cutDone;
        const afterCut = Array.from({ length: 5 }, () => assertion());
        for (const a of afterCut) expect((await store.recordCall(call([a]))).status).toBe('unavailable');
        expect(settled.every((r) => r.status === 'committed' || r.status === 'unavailable')).toBe(true);
        expect(settled.some((r) => r.status === 'unavailable')).toBe(true);
        await restore();

        const committed = [...settledBefore, ...inFlight.filter((_, i) => settled[i]!.status === 'committed')];
        for (const a of committed) expect((await direct.getAssertion(a.id))?.id).toBe(a.id);
        // A call cut during its COMMIT may have committed without being told so: that is the only way a row
        // reported unavailable can exist, and only for calls in flight at the cut. Calls after the cut never do.
        for (const a of afterCut) expect(await direct.getAssertion(a.id)).toBeUndefined();
        const inDoubt = [];
        for (const [i, a] of inFlight.entries()) {
          if (settled[i]!.status === 'unavailable' && (await direct.getAssertion(a.id)) !== undefined)
            inDoubt.push(a.id);
        }
        expect(inDoubt.length).toBeLessThanOrEqual(5); // at most one per pooled connection
        expect((await store.recordCall(call([assertion()]))).status).toBe('committed');
      } finally {
        await Promise.all([store.close(), direct.close()]);
      }
    },
  );

  it(
    'resilient store: jti from memory and audit queued while cut, written back when the database returns',
    TIMEOUT,
    async () => {
      const { target, store, cut, restore } = await storeBehindProxy();
      const resilient = new ResilientStore(store, { probeIntervalMs: 50, auditQueueCapacity: 3 });
      const direct = await Store.open(target.config());
      try {
        expect(await resilient.recordAudit(audit({ kind: 'discovery', hookInstance: 'before' }))).toBe('written');
        await cut();
        const claim = { iss: 'https://ehr.example', jti: randomUUID(), expiresAt: new Date(Date.now() + 60_000) };
        expect(await resilient.claimJti(claim)).toEqual({ status: 'accepted', source: 'memory' });
        expect(await resilient.claimJti(claim)).toEqual({ status: 'replay', source: 'memory' });
        expect(resilient.available).toBe(false);
        const hookInstance = randomUUID();
        for (let i = 0; i < 5; i++)
          expect(await resilient.recordAudit(audit({ kind: 'discovery', hookInstance }))).toBe('queued');
        expect(resilient.auditQueue.size).toBe(3);
        expect(resilient.auditQueue.dropped).toBe(2);
        expect((await resilient.recordCall(call([assertion()]))).status).toBe('unavailable');

        await restore();
        await expect.poll(() => resilient.available, { timeout: 10_000, interval: 50 }).toBe(true);
        expect(resilient.auditQueue.size).toBe(0);
        expect(await direct.auditRecords({ hookInstance })).toHaveLength(3);
        // The jti accepted from memory was written back: a replay to any instance is now refused.
        expect(await direct.claimJti(claim)).toBe('replay');
        expect(await resilient.claimJti({ ...claim, jti: randomUUID() })).toEqual({
          status: 'accepted',
          source: 'store',
        });
      } finally {
        resilient.stop();
        await Promise.all([store.close(), direct.close()]);
      }
    },
  );
});
