import { sql, type Kysely, type Transaction } from 'kysely';
import { unavailabilityCode } from './errors.js';
import type { StoreDatabase } from './schema.js';

/** One caller's writes, run inside the batch's transaction; it throws to undo only its own writes. */
export type BatchOperation<T> = (trx: Transaction<StoreDatabase>) => Promise<T>;

interface Queued {
  readonly run: BatchOperation<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Operations in one transaction at most; a larger backlog is committed in several. */
export const MAX_BATCH_OPERATIONS = 64;

/**
 * Group commit. Operations submitted in the same turn of the event loop, or while a batch is committing, are run
 * together in the next batch: one transaction, each operation inside its own SAVEPOINT (its failure rolls back
 * only itself), then one COMMIT, so one fsync on SQLite instead of one per caller. Every promise settles only after
 * that COMMIT; a failed BEGIN or COMMIT rejects every operation of the batch with that error, and none of the batch
 * is stored. An operation that finds the database itself failing (unavailable: a full disk for its large row, an I/O
 * error) rolls the batch back, and each operation is then run in a transaction of its own: one caller's failure
 * never fails the others' writes (nor turns their jti claims into the memory fallback).
 *
 * The batch starts on `setImmediate`: the SQLite driver's calls are synchronous, so a transaction started at once
 * would finish before any other request got a turn, and every batch would hold one operation.
 */
export class WriteBatch {
  readonly #db: Kysely<StoreDatabase>;
  readonly #maxOperations: number;
  readonly #queue: Queued[] = [];
  #pending: Promise<void> | undefined;
  #closed = false;

  constructor(db: Kysely<StoreDatabase>, maxOperations = MAX_BATCH_OPERATIONS) {
    this.#db = db;
    this.#maxOperations = maxOperations;
  }

  /** Resolves with the operation's result once the batch holding it has committed. */
  submit<T>(run: BatchOperation<T>): Promise<T> {
    if (this.#closed) return Promise.reject(Object.assign(new Error('the store is closed'), { code: 'CLIENT_CLOSED' }));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  /** Refuses what is submitted from now on (unavailable: a 503, not a driver error); what was submitted still runs. */
  close(): void {
    this.#closed = true;
  }

  /** Resolves once every operation submitted so far has settled (before the database is closed). */
  async settled(): Promise<void> {
    while (this.#pending !== undefined) await this.#pending;
  }

  #schedule(): void {
    this.#pending ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#drain());
  }

  async #drain(): Promise<void> {
    await this.#commit(this.#queue.splice(0, this.#maxOperations));
    this.#pending = undefined;
    if (this.#queue.length > 0) this.#schedule();
  }

  /** Never throws: every operation's promise is settled here. */
  async #commit(batch: Queued[]): Promise<void> {
    const alone = batch.length === 1;
    const outcomes: Outcome[] = [];
    try {
      await this.#db.transaction().execute(async (trx) => {
        for (const op of batch) outcomes.push(alone ? await settle(op.run(trx)) : await isolated(trx, op.run));
        // Alone, an operation's failure is the transaction's: rolled back whole, no savepoint needed.
        const only = outcomes[0];
        if (alone && only !== undefined && !only.ok) throw only.error;
      });
    } catch (error) {
      if (error instanceof OperationUnavailable) {
        for (const op of batch) await this.#commit([op]);
        return;
      }
      for (const op of batch) op.reject(error);
      return;
    }
    batch.forEach((op, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok === true) op.resolve(outcome.value);
      else op.reject(outcome?.error);
    });
  }
}

function settle(work: Promise<unknown>): Promise<Outcome> {
  return work.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

/** The database failed inside one operation of a shared batch: the batch is retried one operation at a time. */
class OperationUnavailable extends Error {}

/**
 * Runs one operation of a shared batch under a savepoint. A failure of the operation (a replayed jti, a constraint)
 * is rolled back to the savepoint and kept as its outcome; the database failing (unavailable) aborts the batch.
 */
async function isolated(trx: Transaction<StoreDatabase>, run: BatchOperation<unknown>): Promise<Outcome> {
  await sql`savepoint batch_operation`.execute(trx);
  const outcome = await settle(run(trx));
  if (!outcome.ok && unavailabilityCode(outcome.error) !== undefined) throw new OperationUnavailable();
  if (!outcome.ok) await sql`rollback to batch_operation`.execute(trx);
  await sql`release batch_operation`.execute(trx);
  return outcome;
}
