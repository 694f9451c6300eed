import { randomUUID } from 'node:crypto';
import { Migrator, sql, type MigratorProps } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, type OpenedDatabase } from '../../src/store/engine.js';
import { withExclusiveTransaction } from '../../src/store/libsql-dialect.js';
import { migrations } from '../../src/store/migrations.js';
import { Store, type FeedbackInput } from '../../src/store/index.js';
import { assertion, audit, cleanupTargets, engines, freshTarget } from './support.js';

/** Coverage assertions bound to the CDS client they were issued to; feedback linked only from that client. */

afterAll(cleanupTargets, 60_000);

const TIMEOUT = { timeout: 30_000 };
const CLIENT_A = 'https://ehr-a.example.org';
const CLIENT_B = 'https://ehr-b.example.org';

function feedback(card: string, overrides: Partial<FeedbackInput> = {}): FeedbackInput {
  return {
    serviceId: 'cryoablation-order-sign',
    card,
    outcome: 'accepted',
    outcomeTimestamp: '2026-12-01T10:00:00Z',
    ...overrides,
  };
}

/** Migrates the database only as far as `0001_initial`, as a deployment of before this change did. */
async function migrateTo0001(opened: OpenedDatabase): Promise<void> {
  const provider = {
    getMigrations: () => Promise.resolve({ '0001_initial': migrations(opened.engine)['0001_initial']! }),
  };
  const run = async (db: MigratorProps['db']) => {
    const { error } = await new Migrator({ db, provider }).migrateToLatest();
    if (error !== undefined) throw error instanceof Error ? error : new Error('migration 0001 failed');
  };
  if (opened.engine === 'postgres') await run(opened.db);
  else await withExclusiveTransaction(opened.sqlite, run);
}

describe.each(engines)('assertions bound to their client (%s)', (engine) => {
  it(
    'upgrades a database created at 0001 in place: rows kept, client_iss null, feedback from any client still linked',
    TIMEOUT,
    async () => {
      const target = await freshTarget(engine);
      const opened = openDatabase(target.config());
      const legacyCard = randomUUID();
      const legacy = assertion();
      try {
        await migrateTo0001(opened);
        // The 0001 table has no client_iss: the row is written as that version wrote it.
        await sql`insert into coverage_assertion (id, created_at, service_id, hook_instance, order_ref, order_code,
            coverage_ref, patient_ref, decision, coverage_information, trace, policy_version, questionnaire_canonical,
            questionnaire_version, order_snapshot)
          values (${legacy.id}, ${'2026-11-30T08:00:00.000Z'}, ${legacy.serviceId}, ${legacy.hookInstance},
            ${legacy.orderRef}, ${legacy.orderCode}, ${legacy.coverageRef}, ${legacy.patientRef}, ${legacy.decision},
            ${JSON.stringify(legacy.coverageInformation)}, ${JSON.stringify(legacy.trace)}, ${legacy.policyVersion},
            null, null, ${JSON.stringify(legacy.orderSnapshot)})`.execute(opened.db);
        await sql`insert into card_link (card_uuid, assertion_id, created_at)
          values (${legacyCard}, ${legacy.id}, ${'2026-11-30T08:00:00.000Z'})`.execute(opened.db);
        const columns = await opened.db.introspection.getTables();
        const table = columns.find((t) => t.name === 'coverage_assertion');
        expect(table?.columns.map((c) => c.name)).not.toContain('client_iss');
      } finally {
        await opened.db.destroy();
      }

      const store = await Store.open(target.config());
      try {
        expect(await store.getAssertion(legacy.id)).toMatchObject({
          id: legacy.id,
          createdAt: '2026-11-30T08:00:00.000Z',
          decision: legacy.decision,
          orderRef: legacy.orderRef,
          coverageInformation: legacy.coverageInformation,
          trace: legacy.trace,
          orderSnapshot: legacy.orderSnapshot,
          clientIss: null,
        });
        expect(await store.assertionIdForCard(legacyCard)).toBe(legacy.id);
        // An assertion of before the migration belongs to no client: feedback from any client links to it.
        const fromB = await store.recordFeedback([feedback(legacyCard)], { clientIss: CLIENT_B });
        expect(fromB).toMatchObject({ entries: [{ assertionId: legacy.id }], otherClientEntries: 0 });
        // New assertions keep their client on the upgraded database.
        const fresh = assertion({ clientIss: CLIENT_A });
        expect((await store.recordCall({ assertions: [fresh], audit: audit() })).status).toBe('committed');
        expect((await store.getAssertion(fresh.id))?.clientIss).toBe(CLIENT_A);
      } finally {
        await store.close();
      }
      // Opening again finds nothing left to migrate and the rows as they were.
      const again = await Store.open(target.config());
      try {
        expect((await again.getAssertion(legacy.id))?.clientIss).toBeNull();
      } finally {
        await again.close();
      }
    },
  );

  it('keeps the client iss of each assertion, null when authentication was off', TIMEOUT, async () => {
    const store = await Store.open((await freshTarget(engine)).config());
    try {
      const hookInstance = randomUUID();
      const a = assertion({ clientIss: CLIENT_A, hookInstance });
      const none = assertion({ clientIss: null, hookInstance });
      expect((await store.recordCall({ assertions: [a, none], audit: audit({ hookInstance }) })).status).toBe(
        'committed',
      );
      expect((await store.getAssertion(a.id))?.clientIss).toBe(CLIENT_A);
      expect((await store.getAssertion(none.id))?.clientIss).toBeNull();
      expect((await store.latestAssertion(a.orderRef, a.coverageRef))?.clientIss).toBe(CLIENT_A);
      expect(
        Object.fromEntries((await store.assertionsByHookInstance(hookInstance)).map((x) => [x.id, x.clientIss])),
      ).toEqual({ [a.id]: CLIENT_A, [none.id]: null });
    } finally {
      await store.close();
    }
  });

  it(
    'links feedback only from the client the card was issued to; another client is stored unlinked and counted',
    TIMEOUT,
    async () => {
      const store = await Store.open((await freshTarget(engine)).config());
      try {
        const cardA = randomUUID();
        const cardOpen = randomUUID();
        const a = assertion({ clientIss: CLIENT_A, cardUuids: [cardA] });
        const open = assertion({ clientIss: null, cardUuids: [cardOpen] });
        await store.recordCall({ assertions: [a, open], audit: audit() });

        const owner = await store.recordFeedback([feedback(cardA)], { clientIss: CLIENT_A });
        expect(owner).toMatchObject({ entries: [{ card: cardA, assertionId: a.id }], otherClientEntries: 0 });

        const other = await store.recordFeedback(
          [
            feedback(cardA, { outcome: 'overridden', userComment: 'not ours' }),
            feedback(cardOpen),
            feedback('unknown-card'),
            feedback(randomUUID(), { assertionId: a.id }),
          ],
          { clientIss: CLIENT_B },
        );
        expect(other.entries.map((f) => f.assertionId)).toEqual([null, open.id, null, null]);
        expect(other.otherClientEntries).toBe(2);
        // Authentication off (no iss) is not client A either.
        expect(await store.recordFeedback([feedback(cardA)], { clientIss: null })).toMatchObject({
          entries: [{ assertionId: null }],
          otherClientEntries: 1,
        });

        const shown = await store.feedbackForAssertion(a.id);
        expect(shown.map((f) => f.id)).toEqual([owner.entries[0]!.id]);
        expect((await store.feedbackForAssertion(open.id)).map((f) => f.card)).toEqual([cardOpen]);
      } finally {
        await store.close();
      }
    },
  );

  it('feedback in a shared batch with other writes: each linked or not as alone, all committed', TIMEOUT, async () => {
    const store = await Store.open((await freshTarget(engine)).config(), { groupCommit: true });
    try {
      const cardA = randomUUID();
      const a = assertion({ clientIss: CLIENT_A, cardUuids: [cardA] });
      await store.recordCall({ assertions: [a], audit: audit() });
      // Submitted in one turn: one batch (SQLite and, opted in, PostgreSQL).
      const [mine, theirs, call, jti] = await Promise.all([
        store.recordFeedback([feedback(cardA)], { clientIss: CLIENT_A }),
        store.recordFeedback([feedback(cardA)], { clientIss: CLIENT_B }),
        store.recordCall({ assertions: [assertion({ clientIss: CLIENT_B })], audit: audit() }),
        store.claimJti({ iss: CLIENT_B, jti: randomUUID(), expiresAt: new Date(Date.now() + 60_000) }),
      ]);
      expect(mine).toMatchObject({ entries: [{ assertionId: a.id }], otherClientEntries: 0 });
      expect(theirs).toMatchObject({ entries: [{ assertionId: null }], otherClientEntries: 1 });
      expect(call.status).toBe('committed');
      expect(jti).toBe('accepted');
      expect((await store.feedbackForAssertion(a.id)).map((f) => f.id)).toEqual([mine.entries[0]!.id]);
    } finally {
      await store.close();
    }
  });
});
