import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, Migrator, PostgresDialect, sql, type MigratorProps } from 'kysely';
import pg from 'pg';
import type { StoreConfig } from './config.js';
import { LibsqlDialect, withExclusiveTransaction, type LibsqlDialectOptions } from './libsql-dialect.js';
import { migrationProvider } from './migrations.js';
import type { StoreDatabase } from './schema.js';

type TypeId = Parameters<typeof pg.types.getTypeParser>[0];
type TypeFormat = Parameters<typeof pg.types.getTypeParser>[1];
const { JSON: PG_JSON, JSONB: PG_JSONB, TIMESTAMPTZ: PG_TIMESTAMPTZ } = pg.types.builtins;

/** JSON comes back as text and timestamps as ISO strings, as they do from SQLite: one row shape for both. */
function pgTypeParser(oid: TypeId, format?: TypeFormat): (value: string) => unknown {
  if (oid === PG_JSON || oid === PG_JSONB) return (value) => value;
  if (oid === PG_TIMESTAMPTZ) return (value) => new Date(value).toISOString();
  return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
}

export type OpenedDatabase =
  | { engine: 'postgres'; db: Kysely<StoreDatabase> }
  | { engine: 'sqlite'; db: Kysely<StoreDatabase>; sqlite: LibsqlDialectOptions };

function openPostgres(config: Extract<StoreConfig, { engine: 'postgres' }>): Kysely<StoreDatabase> {
  const pool = new pg.Pool({
    connectionString: config.databaseUrl,
    max: config.poolSize,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000,
    statement_timeout: config.statementTimeoutMs,
    query_timeout: config.statementTimeoutMs + 1000,
    application_name: 'crd-store',
    types: { getTypeParser: pgTypeParser as typeof pg.types.getTypeParser },
  });
  // An idle client whose connection dies emits 'error' on the pool; without a listener that crashes the process.
  // The pool drops that client and opens a new one on the next query, which is how the store recovers.
  pool.on('error', () => undefined);
  // A checked-out client (say between two statements of a transaction) emits 'error' on itself when its
  // connection dies; the statement in flight or the next one fails with it, so the event needs only a listener.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return new Kysely<StoreDatabase>({ dialect: new PostgresDialect({ pool }) });
}

export function openDatabase(config: StoreConfig): OpenedDatabase {
  if (config.engine === 'postgres') return { engine: 'postgres', db: openPostgres(config) };
  mkdirSync(dirname(config.file), { recursive: true });
  const sqlite = { path: config.file, busyTimeoutMs: config.busyTimeoutMs, synchronous: config.synchronous };
  return { engine: 'sqlite', db: new Kysely<StoreDatabase>({ dialect: new LibsqlDialect(sqlite) }), sqlite };
}

/**
 * Brings the schema to the latest version. Safe when several instances start at once: on PostgreSQL Kysely's
 * Migrator holds a session advisory lock (pg_advisory_lock) around the run, and each migration is
 * transactional; on SQLite the whole run is one BEGIN IMMEDIATE transaction, so a second instance waits on
 * the file lock and then finds nothing left to do.
 */
export async function migrateToLatest(opened: OpenedDatabase): Promise<string[]> {
  const provider = migrationProvider(opened.engine);
  const run = async (db: MigratorProps['db']) => {
    const migrator = new Migrator({ db, provider });
    const { error, results } = await migrator.migrateToLatest();
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows the migration's own failure unchanged (Kysely types it unknown)
    if (error !== undefined) throw error;
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  };
  if (opened.engine === 'postgres') return run(opened.db);
  return withExclusiveTransaction(opened.sqlite, run);
}

export async function ping(db: Kysely<StoreDatabase>): Promise<void> {
  await sql`select 1`.execute(db);
}
