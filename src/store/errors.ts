/**
 * The store could not be reached or could not commit (connection refused or cut, timeout, database locked for
 * too long, disk error). Callers answer 503; nothing the call asked for was written, or, when a connection
 * was cut during COMMIT, the outcome is unknown to the client and the caller must treat it as not written.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  /** Machine-readable cause (driver error code or errno), never data from the rows. */
  readonly code: string;

  constructor(code: string, options?: { cause?: unknown }) {
    super(`store unavailable (${code})`, options);
    this.code = code;
  }
}

export function isStoreUnavailable(error: unknown): error is StoreUnavailableError {
  return error instanceof StoreUnavailableError;
}

const NODE_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL|READONLY|PROTOCOL|NOTADB|CORRUPT)/;

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : '';
}

/**
 * Is this driver error the database being unreachable (rather than a bug in a query)? PostgreSQL: class 08
 * (connection exception), 57P0x (shutdown), 53xxx (insufficient resources), 57014 (statement timeout), and
 * node-postgres' own "Connection terminated" / timeout errors. SQLite: busy, locked, I/O and open failures.
 */
export function unavailabilityCode(error: unknown): string | undefined {
  const code = codeOf(error);
  if (code !== undefined) {
    if (NODE_NETWORK_CODES.has(code)) return code;
    if (/^08|^57P0|^53|^57014$/.test(code)) return `pg-${code}`;
    if (SQLITE_UNAVAILABLE.test(code)) return code;
    if (code === 'CLIENT_CLOSED') return code;
  }
  const message = messageOf(error);
  if (
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout/i.test(
      message,
    )
  ) {
    return 'connection-lost';
  }
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause !== undefined && cause !== error ? unavailabilityCode(cause) : undefined;
}

/** Rethrows an unavailability as StoreUnavailableError; anything else (a bug) as it was. */
export function toStoreError(error: unknown): unknown {
  if (error instanceof StoreUnavailableError) return error;
  const code = unavailabilityCode(error);
  return code === undefined ? error : new StoreUnavailableError(code, { cause: error });
}
