import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/server/logger.js';
import { StoreHolder } from '../../src/server/store-holder.js';
import { assertion, audit } from '../store/support.js';
import { cleanupTargets, engines, eventually, targetFor } from './support.js';

afterAll(cleanupTargets, 60_000);

describe.each(engines)('the retention purge is scheduled by the service (%s)', (engine) => {
  it('purges what is past its retention period on the interval, without a call', { timeout: 30_000 }, async () => {
    const target = await targetFor(engine);
    let clock = new Date('2026-12-01T00:00:00Z');
    const holder = new StoreHolder(
      target.config({ retention: { assertions: 30, audit: 30, feedback: 30 } }),
      createLogger('silent'),
      {
        auditQueueCapacity: 10,
        retryMs: 200,
        purgeIntervalMs: 50,
        now: () => clock,
      },
    ).start();
    try {
      const store = (await holder.get(30_000))!.store;
      const kept = assertion();
      const old = assertion();
      expect((await store.recordCall({ assertions: [old], audit: audit() })).status).toBe('committed');
      clock = new Date('2027-01-15T00:00:00Z');
      expect((await store.recordCall({ assertions: [kept], audit: audit() })).status).toBe('committed');
      await eventually(async () => (await store.getAssertion(old.id)) === undefined);
      expect((await store.getAssertion(kept.id))?.id).toBe(kept.id);
    } finally {
      await holder.close();
    }
  });
});
