/**
 * Moves a scenario in time: every FHIR date, dateTime and instant in it is shifted by whole days, so that a
 * scenario written for its evaluation date decides the same on another day (look-back windows, coverage
 * periods, ages). Walks the JSON generically; precision and time zone of each value are kept.
 */

const DAY_MS = 86_400_000;
/** YYYY-MM, YYYY-MM-DD, or a dateTime/instant with a time (and optionally seconds, fraction, zone). */
const FHIR_DATE = /^(\d{4})-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?$/;
/** Keys whose string values are identifiers or codes, never dates, even when they look like one. */
const NOT_DATES = new Set([
  'id',
  'version',
  'code',
  'system',
  'url',
  'reference',
  'display',
  'text',
  'hookInstance',
  'linkId',
  'value',
  'valueString',
  'valueCode',
]);

/** Whole days from `from` (YYYY-MM-DD) to `to` (YYYY-MM-DD). */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS);
}

/** Today's date in UTC, YYYY-MM-DD. */
export function todayUtc(now: Date = new Date()): string {
  return now.toISOString().slice(0, 10);
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** One FHIR date-like string shifted by `days`; anything else unchanged. */
export function shiftDate(value: string, days: number): string {
  const m = FHIR_DATE.exec(value);
  if (!m || days === 0) return value;
  const [, y, mo, d, hh, mi, ss, frac, zone] = m;
  const base = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d ?? '1')) + days * DAY_MS);
  const date = `${pad(base.getUTCFullYear(), 4)}-${pad(base.getUTCMonth() + 1)}`;
  if (d === undefined) return date;
  const day = `${date}-${pad(base.getUTCDate())}`;
  if (hh === undefined) return day;
  return `${day}T${hh}:${mi}${ss !== undefined ? `:${ss}${frac ?? ''}` : ''}${zone ?? ''}`;
}

/** A deep copy of `json` with every date-like string value shifted by `days`. */
export function shiftDates<T>(json: T, days: number): T {
  const walk = (value: unknown, key: string | undefined): unknown => {
    if (typeof value === 'string') return key !== undefined && NOT_DATES.has(key) ? value : shiftDate(value, days);
    if (Array.isArray(value)) return value.map((v) => walk(v, key));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, walk(v, k)]));
    }
    return value;
  };
  return walk(json, undefined) as T;
}
