import { createClient, type Client, type InArgs, type ResultSet, type Transaction } from '@libsql/client';
import {
  Kysely as KyselyCtor,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely';

/**
 * A small Kysely dialect over `@libsql/client` for a local SQLite file. One connection per store, guarded by a
 * mutex shared by every store of this process on the same file: libsql's calls are synchronous, so a second
 * in-process writer waiting on SQLite's busy timeout would block the event loop that the first writer needs to
 * finish. Other processes are kept apart by SQLite's own file lock (`BEGIN IMMEDIATE` for every transaction,
 * with a busy timeout).
 */
export interface LibsqlDialectOptions {
  /** Absolute path of the database file. */
  path: string;
  busyTimeoutMs: number;
  synchronous: 'NORMAL' | 'FULL';
}

export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  async lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((resolve) => (release = resolve));
    const previous = this.#tail;
    this.#tail = previous.then(() => next);
    await previous;
    return release;
  }
}

const fileMutexes = new Map<string, Mutex>();

export function mutexFor(path: string): Mutex {
  let mutex = fileMutexes.get(path);
  if (mutex === undefined) {
    mutex = new Mutex();
    fileMutexes.set(path, mutex);
  }
  return mutex;
}

function toQueryResult<R>(rs: ResultSet): QueryResult<R> {
  const rows = rs.rows.map((row) => Object.fromEntries(rs.columns.map((name, i) => [name, row[i]])) as R);
  return {
    rows,
    numAffectedRows: BigInt(rs.rowsAffected),
    ...(rs.lastInsertRowid === undefined ? {} : { insertId: rs.lastInsertRowid }),
  };
}

const BROKEN_CONNECTION = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|PROTOCOL|NOTADB|CORRUPT)/;

class LibsqlConnection implements DatabaseConnection {
  readonly #client: Client;
  #transaction: Transaction | undefined;
  /**
   * Set when a statement failed in a way that can leave the connection stuck: seen here, a connection whose
   * BEGIN IMMEDIATE hit SQLITE_BUSY stays busy after the other writer is gone. The driver then reopens it.
   */
  broken = false;

  constructor(client: Client) {
    this.#client = client;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const statement = { sql: query.sql, args: query.parameters as InArgs };
    const rs = await this.#watch(() => (this.#transaction ?? this.#client).execute(statement));
    return toQueryResult<R>(rs);
  }

  async #watch<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && BROKEN_CONNECTION.test(code)) this.broken = true;
      throw error;
    }
  }

  // eslint-disable-next-line require-yield, @typescript-eslint/require-await -- DatabaseConnection wants an async iterator; this one only refuses
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported by the libsql dialect');
  }

  async begin(): Promise<void> {
    // "write" is BEGIN IMMEDIATE: the write lock is taken at the start, so two writers never deadlock on upgrade.
    this.#transaction = await this.#watch(() => this.#client.transaction('write'));
  }

  async commit(): Promise<void> {
    const tx = this.#takeTransaction();
    await this.#watch(() => tx.commit());
  }

  close(): void {
    this.#transaction?.close();
    this.#transaction = undefined;
    this.#client.close();
  }

  async rollback(): Promise<void> {
    // Kysely also rolls back when BEGIN itself failed (say SQLITE_BUSY): then there is nothing to undo.
    if (this.#transaction === undefined) return;
    const tx = this.#takeTransaction();
    try {
      // SQLite itself ends the transaction on some errors (SQLITE_FULL, SQLITE_IOERR...): nothing left to undo,
      // and the error that ended it, not a failed ROLLBACK, is what the caller must see.
      if (tx.closed) return;
      await tx.rollback();
    } finally {
      tx.close();
    }
  }

  #takeTransaction(): Transaction {
    const tx = this.#transaction;
    if (tx === undefined) throw new Error('no transaction is open');
    this.#transaction = undefined;
    return tx;
  }
}

async function openClient(options: LibsqlDialectOptions): Promise<Client> {
  const client = createClient({ url: `file:${options.path}`, concurrency: 1, timeout: options.busyTimeoutMs });
  try {
    // WAL: readers do not block the writer; synchronous NORMAL or FULL: a commit survives a process crash.
    await client.execute('PRAGMA journal_mode = WAL');
    await client.execute(`PRAGMA synchronous = ${options.synchronous}`);
    await client.execute(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs)}`);
    return client;
  } catch (error) {
    client.close();
    throw error;
  }
}

/** A connection already inside a transaction: Kysely's own begin/commit are refused. */
class PinnedConnection implements DatabaseConnection {
  readonly #tx: Transaction;

  constructor(tx: Transaction) {
    this.#tx = tx;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return toQueryResult<R>(await this.#tx.execute({ sql: query.sql, args: query.parameters as InArgs }));
  }

  // eslint-disable-next-line require-yield, @typescript-eslint/require-await -- DatabaseConnection wants an async iterator; this one only refuses
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported by the libsql dialect');
  }
}

function pinnedDialect(connection: PinnedConnection): Dialect {
  const driver: Driver = {
    init: () => Promise.resolve(),
    acquireConnection: () => Promise.resolve(connection),
    beginTransaction: () => Promise.reject(new Error('already in a transaction')),
    commitTransaction: () => Promise.resolve(),
    rollbackTransaction: () => Promise.resolve(),
    releaseConnection: () => Promise.resolve(),
    destroy: () => Promise.resolve(),
  };
  return {
    createDriver: () => driver,
    createQueryCompiler: () => new SqliteQueryCompiler(),
    createAdapter: () => new SqliteAdapter(),
    createIntrospector: (db) => new SqliteIntrospector(db),
  };
}

/**
 * Runs `work` inside one BEGIN IMMEDIATE transaction on its own connection, holding this process's lock on the
 * file: the way migrations stay safe when instances (in this process or others) open the same file at once.
 */
export async function withExclusiveTransaction<T>(
  options: LibsqlDialectOptions,
  work: (db: Kysely<unknown>) => Promise<T>,
): Promise<T> {
  const release = await mutexFor(options.path).lock();
  try {
    const client = await openClient(options);
    try {
      const tx = await client.transaction('write');
      const db = new KyselyCtor<unknown>({ dialect: pinnedDialect(new PinnedConnection(tx)) });
      try {
        const result = await work(db);
        await tx.commit();
        return result;
      } catch (error) {
        await tx.rollback().catch(() => undefined);
        throw error;
      } finally {
        tx.close();
      }
    } finally {
      client.close();
    }
  } finally {
    release();
  }
}

/** Kysely hands the driver back the connection it acquired from it: always a LibsqlConnection. */
function ownConnection(connection: DatabaseConnection): LibsqlConnection {
  if (connection instanceof LibsqlConnection) return connection;
  throw new Error('not a connection of the libsql driver');
}

class LibsqlDriver implements Driver {
  readonly #options: LibsqlDialectOptions;
  readonly #mutex: Mutex;
  #client: Client | undefined;
  #connection: LibsqlConnection | undefined;
  #release: (() => void) | undefined;

  constructor(options: LibsqlDialectOptions) {
    this.#options = options;
    this.#mutex = mutexFor(options.path);
  }

  async init(): Promise<void> {
    const release = await this.#mutex.lock();
    try {
      this.#client = await openClient(this.#options);
      this.#connection = new LibsqlConnection(this.#client);
    } finally {
      release();
    }
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const release = await this.#mutex.lock();
    const connection = this.#connection;
    if (connection === undefined) {
      release();
      throw new Error('the SQLite store is closed');
    }
    this.#release = release;
    return connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await ownConnection(connection).begin();
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await ownConnection(connection).commit();
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await ownConnection(connection).rollback();
  }

  async releaseConnection(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    try {
      if (this.#connection?.broken === true) await this.#reopen();
    } finally {
      release?.();
    }
  }

  /** Replaces a stuck connection by a new one (called holding the mutex); a failure leaves the old one to retry. */
  async #reopen(): Promise<void> {
    try {
      const client = await openClient(this.#options);
      this.#connection?.close();
      this.#client = client;
      this.#connection = new LibsqlConnection(client);
    } catch {
      // the file is still unusable; the next failing statement marks the connection again
    }
  }

  async destroy(): Promise<void> {
    const release = await this.#mutex.lock();
    try {
      this.#connection?.close();
      this.#client?.close();
      this.#client = undefined;
      this.#connection = undefined;
    } finally {
      release();
    }
  }
}

export class LibsqlDialect implements Dialect {
  readonly #options: LibsqlDialectOptions;

  constructor(options: LibsqlDialectOptions) {
    this.#options = options;
  }

  createDriver(): Driver {
    return new LibsqlDriver(this.#options);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
