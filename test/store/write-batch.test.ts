import { randomUUID } from 'node:crypto';
import { createClient } from '@libsql/client';
import { sql, type Kysely } from 'kysely';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { migrateToLatest, openDatabase } from '../../src/store/engine.js';
import { toStoreError } from '../../src/store/errors.js';
import { Store, isStoreUnavailable, type RecordCallInput } from '../../src/store/index.js';
import type { StoreDatabase } from '../../src/store/schema.js';
import { WriteBatch, type BatchOperation } from '../../src/store/write-batch.js';
import {
  assertion,
  audit,
  cleanupTargets,
  engines,
  freshTarget,
  postgresUrl,
  postgresBehindProxy,
  type Target,
} from './support.js';

afterAll(cleanupTargets, 60_000);

const TIMEOUT = { timeout: 60_000 };

const claim = (jti: string = randomUUID()) => ({
  iss: 'https://ehr.example',
  jti,
  expiresAt: new Date(Date.now() + 300_000),
});

function call(overrides: Partial<RecordCallInput> = {}): RecordCallInput {
  const a = assertion({ cardUuids: [randomUUID(), randomUUID()] });
  return {
    assertions: [a],
    cardLinks: [{ cardUuid: randomUUID(), assertionId: a.id }],
    audit: audit({ hookInstance: randomUUID() }),
    jti: claim(),
    ...overrides,
  };
}

/** A migrated database of the target as Kysely sees it, for driving a WriteBatch directly. */
async function database(target: Target, url?: string): Promise<Kysely<StoreDatabase>> {
  const opened = openDatabase(target.config(url === undefined ? {} : { url }));
  await migrateToLatest(opened);
  return opened.db;
}

/** One jti row inserted, and how many jti rows this operation sees (its batch's earlier ones included). */
function insertJti(jti: string) {
  return async (db: Kysely<StoreDatabase>) => {
    await db.insertInto('jti_replay').values({ iss: 'batch', jti, expires_at: '2999-01-01T00:00:00.000Z' }).execute();
    const row = await db
      .selectFrom('jti_replay')
      .select((eb) => eb.fn.countAll<string | number | bigint>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  };
}

async function storedJtis(db: Kysely<StoreDatabase>): Promise<string[]> {
  return (await db.selectFrom('jti_replay').select('jti').where('iss', '=', 'batch').execute()).map((r) => r.jti);
}

describe.each(engines)('group commit on %s', (engine) => {
  it.each([
    { submitted: 1, transactions: 1, seen: [1] },
    { submitted: 10, transactions: 1, seen: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] },
    { submitted: 70, transactions: 2, seen: Array.from({ length: 70 }, (_, i) => i + 1) },
  ])(
    '$submitted operations submitted at once run in $transactions transaction(s) of at most 64, in order',
    TIMEOUT,
    async ({ submitted, transactions, seen }) => {
      const db = await database(await freshTarget(engine));
      const begun = vi.spyOn(db, 'transaction');
      try {
        const batch = new WriteBatch(db);
        const jtis = Array.from({ length: submitted }, () => randomUUID());
        // Each operation sees the rows of the operations before it: they share the transaction, or a later
        // transaction sees the earlier one committed.
        expect(await Promise.all(jtis.map((jti) => batch.submit(insertJti(jti))))).toEqual(seen);
        expect(begun).toHaveBeenCalledTimes(transactions);
        expect((await storedJtis(db)).sort()).toEqual([...jtis].sort());
      } finally {
        await db.destroy();
      }
    },
  );

  it('an operation that fails is rolled back to its savepoint alone; the others commit', TIMEOUT, async () => {
    const db = await database(await freshTarget(engine));
    try {
      const batch = new WriteBatch(db);
      const [kept1, undone, kept2] = [randomUUID(), randomUUID(), randomUUID()];
      const failing = async (trx: Kysely<StoreDatabase>) => {
        await insertJti(undone)(trx);
        await insertJti(kept1)(trx); // a primary key violation after a write of its own
      };
      const results = await Promise.allSettled([
        batch.submit(insertJti(kept1)),
        batch.submit(failing),
        batch.submit(insertJti(kept2)),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(isStoreUnavailable((results[1] as PromiseRejectedResult).reason)).toBe(false);
      expect((await storedJtis(db)).sort()).toEqual([kept1, kept2].sort());
    } finally {
      await db.destroy();
    }
  });
});

const filler = (trx: Kysely<StoreDatabase>) =>
  trx
    .insertInto('audit_record')
    .values({
      id: randomUUID(),
      created_at: new Date().toISOString(),
      kind: 'other',
      client_iss: null,
      service_id: null,
      hook_instance: null,
      request_meta: JSON.stringify({ filler: 'x'.repeat(200_000) }),
      response: null,
      status: 200,
      duration_ms: 0,
      consumer: null,
    })
    .execute();

/** Every rejection as the store reports it: an unavailability becomes StoreUnavailableError. */
function unavailable(results: PromiseSettledResult<unknown>[]): boolean[] {
  return results.map((r) => r.status === 'rejected' && isStoreUnavailable(toStoreError(r.reason)));
}

describe('group commit when the database fails mid-batch', () => {
  it.each([
    { case: 'alone', before: 0, after: 0 },
    { case: 'second of three', before: 1, after: 1 },
    { case: 'last of 20', before: 19, after: 0 },
  ])(
    'sqlite, the file full (max_page_count) for the large row at the operation $case: that operation unavailable and nothing of it stored; the small writes of the same batch, each retried on its own, committed; the next batch commits',
    TIMEOUT,
    async ({ before, after }) => {
      const db = await database(await freshTarget('sqlite'));
      try {
        const batch = new WriteBatch(db);
        const pages = await sql<{ page_count: number }>`pragma page_count`.execute(db);
        await sql.raw(`pragma max_page_count = ${pages.rows[0]!.page_count}`).execute(db);
        const jtis = Array.from({ length: before + after }, () => randomUUID());
        const ops: BatchOperation<unknown>[] = [
          ...jtis.slice(0, before).map(insertJti),
          filler,
          ...jtis.slice(before).map(insertJti),
        ];
        const results = await Promise.allSettled(ops.map((op) => batch.submit(op)));
        expect(unavailable(results)).toEqual(ops.map((op) => op === filler));
        expect((await storedJtis(db)).sort()).toEqual([...jtis].sort());
        expect(await db.selectFrom('audit_record').select('id').execute()).toEqual([]);

        await sql`pragma max_page_count = 1073741823`.execute(db);
        const recovered = randomUUID();
        expect(await batch.submit(insertJti(recovered))).toBe(jtis.length + 1);
        expect((await storedJtis(db)).sort()).toEqual([...jtis, recovered].sort());
      } finally {
        await db.destroy();
      }
    },
  );

  it(
    'sqlite, BEGIN refused (another process holds the write lock past the busy timeout): every operation unavailable, nothing stored; the next batch commits',
    TIMEOUT,
    async () => {
      const target = await freshTarget('sqlite');
      const config = target.config();
      if (config.engine !== 'sqlite') throw new Error('sqlite expected');
      const opened = openDatabase({ ...config, busyTimeoutMs: 100 });
      await migrateToLatest(opened);
      const db = opened.db;
      const other = createClient({ url: `file:${config.file}` });
      try {
        const batch = new WriteBatch(db);
        const held = await other.transaction('write');
        const results = await Promise.allSettled(
          [randomUUID(), randomUUID(), randomUUID()].map((j) => batch.submit(insertJti(j))),
        );
        expect(unavailable(results)).toEqual([true, true, true]);
        await held.rollback();
        expect(await storedJtis(db)).toEqual([]);
        const recovered = randomUUID();
        expect(await batch.submit(insertJti(recovered))).toBe(1);
        expect(await storedJtis(db)).toEqual([recovered]);
      } finally {
        other.close();
        await db.destroy();
      }
    },
  );

  it.skipIf(postgresUrl === undefined)(
    'postgres, the connection cut (TCP proxy) by the second operation: every operation unavailable, nothing stored; the next batch commits',
    TIMEOUT,
    async () => {
      const { target, url, cut, restore } = await postgresBehindProxy();
      const db = await database(target, url);
      const direct = await database(target);
      try {
        const batch = new WriteBatch(db);
        const [first, cutter, third] = [randomUUID(), randomUUID(), randomUUID()];
        const cutting = async (trx: Kysely<StoreDatabase>) => {
          await cut();
          return insertJti(cutter)(trx);
        };
        const results = await Promise.allSettled([
          batch.submit(insertJti(first)),
          batch.submit(cutting),
          batch.submit(insertJti(third)),
        ]);
        expect(unavailable(results)).toEqual([true, true, true]);
        expect(await storedJtis(direct)).toEqual([]);

        await restore();
        const recovered = randomUUID();
        await expect.poll(() => batch.submit(insertJti(recovered)).catch(() => 0), { timeout: 10_000 }).toBe(1);
        expect(await storedJtis(direct)).toEqual([recovered]);
      } finally {
        await cut();
        await Promise.all([db.destroy(), direct.destroy()]);
      }
    },
  );
});

describe.each(engines)('the store with group commit on %s', (engine) => {
  it('many concurrent calls and jti claims all commit, and all are readable after a restart', TIMEOUT, async () => {
    const target = await freshTarget(engine);
    const store = await Store.open(target.config(), { groupCommit: true });
    const calls = Array.from({ length: 100 }, () => call());
    const claims = Array.from({ length: 100 }, () => claim());
    const [recorded, claimed] = await Promise.all([
      Promise.all(calls.map((c) => store.recordCall(c))),
      Promise.all(claims.map((c) => store.claimJti(c))),
    ]);
    expect(recorded.map((r) => r.status)).toEqual(calls.map(() => 'committed'));
    expect(claimed).toEqual(claims.map(() => 'accepted'));
    await store.close();

    const reopened = await Store.open(target.config());
    try {
      for (const c of calls) {
        const a = c.assertions[0]!;
        expect((await reopened.getAssertion(a.id))?.id).toBe(a.id);
        for (const card of [...a.cardUuids!, c.cardLinks![0]!.cardUuid])
          expect(await reopened.assertionIdForCard(card)).toBe(a.id);
        expect(await reopened.auditRecords({ hookInstance: c.audit.hookInstance! })).toHaveLength(1);
        expect(await reopened.claimJti(c.jti!)).toBe('replay');
      }
      for (const c of claims) expect(await reopened.claimJti(c)).toBe('replay');
    } finally {
      await reopened.close();
    }
  });

  it('a jti replayed inside a batch is replay for that call only; the others commit', TIMEOUT, async () => {
    const store = await Store.open((await freshTarget(engine)).config(), { groupCommit: true });
    try {
      const shared = claim();
      const calls = [call(), call({ jti: shared }), call(), call({ jti: shared }), call()];
      const [recorded, again] = await Promise.all([
        Promise.all(calls.map((c) => store.recordCall(c))),
        store.claimJti(shared),
      ]);
      expect(recorded.map((r) => r.status)).toEqual(['committed', 'committed', 'committed', 'replay', 'committed']);
      expect(again).toBe('replay');
      const stored = await Promise.all(
        calls.map(async (c) => (await store.getAssertion(c.assertions[0]!.id)) !== undefined),
      );
      expect(stored).toEqual([true, true, true, false, true]);
      expect(await store.auditRecords({ hookInstance: calls[3]!.audit.hookInstance! })).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it(
    'a call whose statement fails (a duplicate assertion id) fails alone, its jti claim undone; the others commit',
    TIMEOUT,
    async () => {
      const store = await Store.open((await freshTarget(engine)).config(), { groupCommit: true });
      try {
        const existing = call();
        expect((await store.recordCall(existing)).status).toBe('committed');
        const duplicate = call({ assertions: [assertion({ id: existing.assertions[0]!.id })] });
        const others = [call(), call()];
        const results = await Promise.allSettled([
          store.recordCall(others[0]!),
          store.recordCall(duplicate),
          store.recordCall(others[1]!),
        ]);
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
        for (const c of others) expect((await store.getAssertion(c.assertions[0]!.id))?.id).toBe(c.assertions[0]!.id);
        expect(await store.auditRecords({ hookInstance: duplicate.audit.hookInstance! })).toEqual([]);
        expect(await store.claimJti(duplicate.jti!)).toBe('accepted');
      } finally {
        await store.close();
      }
    },
  );

  it(
    'close waits for the writes already submitted; a write after it is unavailable (a 503), not an error',
    TIMEOUT,
    async () => {
      const target = await freshTarget(engine);
      const store = await Store.open(target.config(), { groupCommit: true });
      expect(await store.ready()).toBe(true); // Kysely opens its connection on first use, and only then closes one
      const pending = Array.from({ length: 5 }, () => call());
      const recorded = pending.map((c) => store.recordCall(c));
      await store.close();
      expect((await Promise.all(recorded)).map((r) => r.status)).toEqual(pending.map(() => 'committed'));
      expect(await store.recordCall(call())).toEqual({ status: 'unavailable', code: 'CLIENT_CLOSED' });
      const reopened = await Store.open(target.config());
      try {
        for (const c of pending) expect(await reopened.getAssertion(c.assertions[0]!.id)).toBeDefined();
      } finally {
        await reopened.close();
      }
    },
  );
});
