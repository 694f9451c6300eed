import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { RetentionDays, StoreConfig } from './config.js';
import { migrateToLatest, openDatabase, ping } from './engine.js';
import { StoreUnavailableError, toStoreError, unavailabilityCode } from './errors.js';
import { WriteBatch } from './write-batch.js';
import {
  redactSecrets,
  type AssertionInput,
  type AuditInput,
  type FeedbackCaller,
  type FeedbackInput,
  type JtiClaim,
  type PurgeCounts,
  type RecordCallInput,
  type RecordCallResult,
  type RecordFeedbackResult,
  type StoredAssertion,
  type StoredAudit,
  type StoredFeedback,
  type FeedbackOutcome,
} from './records.js';
import type { CoverageAssertionTable, Engine, FeedbackTable, StoreDatabase, AuditRecordTable } from './schema.js';

type Db = Kysely<StoreDatabase> | Transaction<StoreDatabase>;

export interface StoreOptions {
  /** The clock for created/expiry times (tests move it). */
  now?: () => Date;
  /** Writes share transactions (write-batch.ts); default on SQLite only. */
  groupCommit?: boolean;
}

const DAY_MS = 86_400_000;

function iso(value: Date | string): string {
  return typeof value === 'string' ? new Date(value).toISOString() : value.toISOString();
}

function json(value: unknown): string {
  return JSON.stringify(value ?? null);
}

function parse(value: string | null): unknown {
  return value === null ? null : JSON.parse(value);
}

function assertionRow(a: AssertionInput, createdAt: string): CoverageAssertionTable {
  return {
    id: a.id,
    created_at: createdAt,
    service_id: a.serviceId,
    hook_instance: a.hookInstance,
    order_ref: a.orderRef,
    order_code: a.orderCode,
    coverage_ref: a.coverageRef,
    patient_ref: a.patientRef,
    decision: a.decision,
    coverage_information: json(a.coverageInformation),
    trace: json(a.trace),
    policy_version: a.policyVersion,
    questionnaire_canonical: a.questionnaireCanonical,
    questionnaire_version: a.questionnaireVersion,
    order_snapshot: json(a.orderSnapshot),
    client_iss: a.clientIss,
  };
}

function toAssertion(row: Selectable<CoverageAssertionTable>): StoredAssertion {
  return {
    id: row.id,
    createdAt: row.created_at,
    serviceId: row.service_id,
    hookInstance: row.hook_instance,
    orderRef: row.order_ref,
    orderCode: row.order_code,
    coverageRef: row.coverage_ref,
    patientRef: row.patient_ref,
    decision: row.decision,
    coverageInformation: parse(row.coverage_information),
    trace: parse(row.trace),
    policyVersion: row.policy_version,
    questionnaireCanonical: row.questionnaire_canonical,
    questionnaireVersion: row.questionnaire_version,
    orderSnapshot: parse(row.order_snapshot),
    clientIss: row.client_iss,
  };
}

function auditRow(a: AuditInput, id: string, createdAt: string): AuditRecordTable {
  return {
    id,
    created_at: createdAt,
    kind: a.kind,
    client_iss: a.clientIss,
    service_id: a.serviceId,
    hook_instance: a.hookInstance,
    request_meta: json(redactSecrets(a.requestMeta)),
    response: a.response === undefined ? null : json(a.response),
    status: a.status,
    duration_ms: Math.max(0, Math.round(a.durationMs)),
    consumer: a.consumer ?? null,
  };
}

function toAudit(row: Selectable<AuditRecordTable>): StoredAudit {
  return {
    id: row.id,
    createdAt: row.created_at,
    kind: row.kind as StoredAudit['kind'],
    clientIss: row.client_iss,
    serviceId: row.service_id,
    hookInstance: row.hook_instance,
    requestMeta: parse(row.request_meta) as Record<string, unknown>,
    response: parse(row.response),
    status: row.status,
    durationMs: row.duration_ms,
    consumer: row.consumer,
  };
}

function toFeedback(row: Selectable<FeedbackTable>): StoredFeedback {
  const hasReason =
    row.override_reason_code !== null || row.override_reason_system !== null || row.override_reason_display !== null;
  return {
    id: row.id,
    createdAt: row.created_at,
    serviceId: row.service_id,
    card: row.card_uuid,
    assertionId: row.assertion_id,
    outcome: row.outcome as FeedbackOutcome,
    outcomeTimestamp: row.outcome_timestamp,
    overrideReason: hasReason
      ? { system: row.override_reason_system, code: row.override_reason_code, display: row.override_reason_display }
      : null,
    userComment: row.user_comment,
    acceptedSuggestions: parse(row.accepted_suggestions) as string[],
  };
}

class ReplayDetected extends Error {}

/** A call's rows: its assertions in one insert, every card link in one insert, its audit record. */
async function writeCall(trx: Db, input: RecordCallInput, auditId: string, createdAt: string): Promise<void> {
  if (input.assertions.length > 0) {
    await trx
      .insertInto('coverage_assertion')
      .values(input.assertions.map((a) => assertionRow(a, createdAt)))
      .execute();
  }
  const links = [
    ...input.assertions.flatMap((a) => (a.cardUuids ?? []).map((cardUuid) => ({ cardUuid, assertionId: a.id }))),
    ...(input.cardLinks ?? []),
  ];
  if (links.length > 0) {
    await trx
      .insertInto('card_link')
      .values(links.map((l) => ({ card_uuid: l.cardUuid, assertion_id: l.assertionId, created_at: createdAt })))
      .execute();
  }
  await trx
    .insertInto('audit_record')
    .values(auditRow(input.audit, auditId, input.audit.createdAt ?? createdAt))
    .execute();
}

/**
 * Feedback rows, each with the assertion it may be linked to: the one named, else its card's; none when that
 * assertion was issued to another client than the caller. An assertion the store does not hold (purged, or a card
 * of no assertion) is kept as named, as before client_iss existed.
 */
async function feedbackRows(
  trx: Db,
  entries: readonly FeedbackInput[],
  caller: FeedbackCaller,
  createdAt: string,
): Promise<{ rows: FeedbackTable[]; otherClientEntries: number }> {
  const cards = [...new Set(entries.filter((e) => e.assertionId == null).map((e) => e.card))];
  const links =
    cards.length === 0
      ? []
      : await trx
          .selectFrom('card_link')
          .select(['card_uuid', 'assertion_id'])
          .where('card_uuid', 'in', cards)
          .execute();
  const assertionOfCard = new Map(links.map((l) => [l.card_uuid, l.assertion_id]));
  const named = (e: FeedbackInput): string | null => e.assertionId ?? assertionOfCard.get(e.card) ?? null;
  const ids = [...new Set(entries.map(named).filter((id): id is string => id !== null))];
  const owners =
    ids.length === 0
      ? []
      : await trx.selectFrom('coverage_assertion').select(['id', 'client_iss']).where('id', 'in', ids).execute();
  const clientOf = new Map(owners.map((o) => [o.id, o.client_iss]));
  let otherClientEntries = 0;
  const rows = entries.map((entry): FeedbackTable => {
    const id = named(entry);
    const owner = id === null ? null : (clientOf.get(id) ?? null);
    const otherClient = owner !== null && owner !== caller.clientIss;
    if (otherClient) otherClientEntries += 1;
    return {
      id: randomUUID(),
      created_at: createdAt,
      service_id: entry.serviceId,
      card_uuid: entry.card,
      assertion_id: otherClient ? null : id,
      outcome: entry.outcome,
      outcome_timestamp: iso(entry.outcomeTimestamp),
      override_reason_system: entry.overrideReason?.system ?? null,
      override_reason_code: entry.overrideReason?.code ?? null,
      override_reason_display: entry.overrideReason?.display ?? null,
      user_comment: entry.userComment ?? null,
      accepted_suggestions: json(entry.acceptedSuggestions ?? []),
    };
  });
  return { rows, otherClientEntries };
}

/**
 * The coverage-assertion, audit, feedback and replay store. One interface and one set of typed queries over
 * SQLite (libsql) and PostgreSQL. Methods throw StoreUnavailableError when the database cannot be reached;
 * `recordCall` returns it as a result instead, since its caller must answer 503.
 */
export class Store {
  readonly engine: Engine;
  readonly retention: RetentionDays;
  readonly #db: Kysely<StoreDatabase>;
  readonly #now: () => Date;
  readonly #batch: WriteBatch | undefined;

  private constructor(engine: Engine, db: Kysely<StoreDatabase>, retention: RetentionDays, options: StoreOptions) {
    this.engine = engine;
    this.#db = db;
    this.retention = retention;
    this.#now = options.now ?? (() => new Date());
    this.#batch = (options.groupCommit ?? engine === 'sqlite') ? new WriteBatch(db) : undefined;
  }

  /** Opens the database (SQLite: creates the file and its folder) and migrates it to the latest version. */
  static async open(config: StoreConfig, options: StoreOptions = {}): Promise<Store> {
    const opened = openDatabase(config);
    try {
      await migrateToLatest(opened);
    } catch (error) {
      await opened.db.destroy().catch(() => undefined);
      throw toStoreError(error);
    }
    return new Store(opened.engine, opened.db, config.retention, options);
  }

  /** Closes the database once the writes already submitted have settled. */
  async close(): Promise<void> {
    this.#batch?.close();
    await this.#batch?.settled();
    await this.#db.destroy();
  }

  /** True when the database answers a query now. */
  async ready(): Promise<boolean> {
    try {
      await ping(this.#db);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Writes every row of one hook call (its assertions and card links, its audit record, its jti) in one
   * transaction and resolves only once it is committed. A jti already seen (and not expired) rolls everything
   * back: `replay`.
   */
  async recordCall(input: RecordCallInput): Promise<RecordCallResult> {
    const createdAt = this.#now().toISOString();
    const auditId = input.audit.id ?? randomUUID();
    try {
      await this.#transaction(async (trx) => {
        if (input.jti !== undefined && !(await this.#claimJti(trx, input.jti))) throw new ReplayDetected();
        await writeCall(trx, input, auditId, createdAt);
      });
      return { status: 'committed', auditId };
    } catch (error) {
      if (error instanceof ReplayDetected) return { status: 'replay' };
      const code = unavailabilityCode(error);
      if (code !== undefined) return { status: 'unavailable', code };
      throw error;
    }
  }

  /** Atomic across instances: `accepted` the first time an (iss, jti) is seen until it expires, else `replay`. */
  async claimJti(claim: JtiClaim): Promise<'accepted' | 'replay'> {
    return this.#guard(async () =>
      (await this.#statement((db) => this.#claimJti(db, claim))) ? 'accepted' : 'replay',
    );
  }

  async #claimJti(db: Db, claim: JtiClaim): Promise<boolean> {
    const now = this.#now().toISOString();
    const result = await db
      .insertInto('jti_replay')
      .values({ iss: claim.iss, jti: claim.jti, expires_at: iso(claim.expiresAt) })
      .onConflict((oc) =>
        oc
          .columns(['iss', 'jti'])
          .doUpdateSet((eb) => ({ expires_at: eb.ref('excluded.expires_at') }))
          .where('jti_replay.expires_at', '<=', now),
      )
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
  }

  /** Audit records written outside a hook call's transaction (discovery, out-of-scope, admin lookups, queued ones). */
  async recordAudit(entries: AuditInput[]): Promise<string[]> {
    if (entries.length === 0) return [];
    const createdAt = this.#now().toISOString();
    const rows = entries.map((entry) => auditRow(entry, entry.id ?? randomUUID(), entry.createdAt ?? createdAt));
    await this.#guard(() =>
      this.#statement((db) =>
        db
          .insertInto('audit_record')
          .values(rows)
          .onConflict((oc) => oc.column('id').doNothing())
          .execute(),
      ),
    );
    return rows.map((row) => row.id);
  }

  async getAssertion(id: string): Promise<StoredAssertion | undefined> {
    const row = await this.#guard(() =>
      this.#db.selectFrom('coverage_assertion').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row === undefined ? undefined : toAssertion(row);
  }

  /** The newest assertion for this order and coverage (re-signing an order replaces its assertion). */
  async latestAssertion(orderRef: string, coverageRef: string): Promise<StoredAssertion | undefined> {
    const row = await this.#guard(() =>
      this.#db
        .selectFrom('coverage_assertion')
        .selectAll()
        .where('order_ref', '=', orderRef)
        .where('coverage_ref', '=', coverageRef)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst(),
    );
    return row === undefined ? undefined : toAssertion(row);
  }

  async assertionsByHookInstance(hookInstance: string): Promise<StoredAssertion[]> {
    const rows = await this.#guard(() =>
      this.#db
        .selectFrom('coverage_assertion')
        .selectAll()
        .where('hook_instance', '=', hookInstance)
        .orderBy('created_at')
        .orderBy('id')
        .execute(),
    );
    return rows.map(toAssertion);
  }

  async assertionIdForCard(cardUuid: string): Promise<string | undefined> {
    const row = await this.#guard(() =>
      this.#db.selectFrom('card_link').select('assertion_id').where('card_uuid', '=', cardUuid).executeTakeFirst(),
    );
    return row?.assertion_id;
  }

  async auditRecords(
    filter: { hookInstance?: string; consumer?: string; limit?: number } = {},
  ): Promise<StoredAudit[]> {
    const rows = await this.#guard(() => {
      let query = this.#db.selectFrom('audit_record').selectAll();
      if (filter.hookInstance !== undefined) query = query.where('hook_instance', '=', filter.hookInstance);
      if (filter.consumer !== undefined) query = query.where('consumer', '=', filter.consumer);
      return query
        .orderBy('created_at')
        .orderBy('id')
        .limit(filter.limit ?? 1000)
        .execute();
    });
    return rows.map(toAudit);
  }

  /**
   * Stores feedback entries (duplicates are kept: clients may report a card more than once). An entry is linked to
   * the assertion of the card it names only when that assertion was issued to the caller, or to no client (stored
   * before `client_iss` was kept, or with authentication off); an entry about another client's card is stored
   * unlinked and only counted. Look-ups and insert are one transaction (on SQLite in the next shared batch).
   */
  async recordFeedback(entries: FeedbackInput[], caller: FeedbackCaller): Promise<RecordFeedbackResult> {
    if (entries.length === 0) return { entries: [], otherClientEntries: 0 };
    const createdAt = this.#now().toISOString();
    const written = await this.#guard(() =>
      this.#transaction(async (trx) => {
        const out = await feedbackRows(trx, entries, caller, createdAt);
        await trx.insertInto('feedback').values(out.rows).execute();
        return out;
      }),
    );
    return { entries: written.rows.map(toFeedback), otherClientEntries: written.otherClientEntries };
  }

  async feedbackForAssertion(assertionId: string): Promise<StoredFeedback[]> {
    const rows = await this.#guard(() =>
      this.#db
        .selectFrom('feedback')
        .selectAll()
        .where('assertion_id', '=', assertionId)
        .orderBy('created_at')
        .orderBy('id')
        .execute(),
    );
    return rows.map(toFeedback);
  }

  /**
   * Deletes what is older than its retention period (0 keeps forever) and every expired jti. Assertions go with
   * their card links; feedback has its own period.
   */
  async purge(): Promise<PurgeCounts> {
    const now = this.#now().getTime();
    const cutoff = (days: number) => new Date(now - days * DAY_MS).toISOString();
    const nowIso = new Date(now).toISOString();
    const { assertions, audit, feedback } = this.retention;
    return this.#guard(() =>
      this.#db.transaction().execute(async (trx) => {
        const counts: PurgeCounts = { assertions: 0, cardLinks: 0, audit: 0, feedback: 0, jti: 0 };
        if (assertions > 0) {
          const before = cutoff(assertions);
          counts.cardLinks = Number(
            (await trx.deleteFrom('card_link').where('created_at', '<', before).executeTakeFirst()).numDeletedRows,
          );
          counts.assertions = Number(
            (await trx.deleteFrom('coverage_assertion').where('created_at', '<', before).executeTakeFirst())
              .numDeletedRows,
          );
        }
        if (audit > 0) {
          counts.audit = Number(
            (await trx.deleteFrom('audit_record').where('created_at', '<', cutoff(audit)).executeTakeFirst())
              .numDeletedRows,
          );
        }
        if (feedback > 0) {
          counts.feedback = Number(
            (await trx.deleteFrom('feedback').where('created_at', '<', cutoff(feedback)).executeTakeFirst())
              .numDeletedRows,
          );
        }
        counts.jti = Number(
          (await trx.deleteFrom('jti_replay').where('expires_at', '<=', nowIso).executeTakeFirst()).numDeletedRows,
        );
        return counts;
      }),
    );
  }

  /** Several statements, atomically: in the next shared batch, or in a transaction of their own. */
  #transaction<T>(work: (db: Db) => Promise<T>): Promise<T> {
    return this.#batch?.submit(work) ?? this.#db.transaction().execute(work);
  }

  /** One statement: in the next shared batch, or on its own (autocommit). */
  #statement<T>(work: (db: Db) => Promise<T>): Promise<T> {
    return this.#batch?.submit(work) ?? work(this.#db);
  }

  async #guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw toStoreError(error);
    }
  }
}

export { StoreUnavailableError };
