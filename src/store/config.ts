import { resolve } from 'node:path';
import { z } from 'zod';

export interface RetentionDays {
  assertions: number;
  audit: number;
  feedback: number;
}

export type StoreConfig =
  | { engine: 'postgres'; databaseUrl: string; retention: RetentionDays; poolSize: number; statementTimeoutMs: number }
  | { engine: 'sqlite'; file: string; retention: RetentionDays; synchronous: 'NORMAL' | 'FULL'; busyTimeoutMs: number };

/**
 * Default retention: coverage assertions 10 years (claims and appeals arrive long after the order; payers keep
 * determination records for years), audit 7 years, feedback 2 years. 0 keeps rows forever.
 */
export const DEFAULT_RETENTION: RetentionDays = { assertions: 3650, audit: 2555, feedback: 730 };

const days = (fallback: number) => z.coerce.number().int().min(0).default(fallback);

const EnvSchema = z.object({
  DATABASE_URL: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  CDS_DATA_DIR: z.string().trim().min(1).default('./data'),
  CDS_RETENTION_ASSERTIONS_DAYS: days(DEFAULT_RETENTION.assertions),
  CDS_RETENTION_AUDIT_DAYS: days(DEFAULT_RETENTION.audit),
  CDS_RETENTION_FEEDBACK_DAYS: days(DEFAULT_RETENTION.feedback),
  CDS_SQLITE_SYNCHRONOUS: z.enum(['NORMAL', 'FULL']).default('FULL'),
  CDS_DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
});

export const SQLITE_FILE_NAME = 'crd.sqlite';

/** Reads the store's settings; an invalid value throws naming the variable (never its value: a URL may hold a password). */
export function storeConfigFromEnv(env: NodeJS.ProcessEnv = process.env): StoreConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const names = [...new Set(parsed.error.issues.map((issue) => String(issue.path[0])))];
    throw new Error(`invalid store configuration: ${names.join(', ')}`);
  }
  const e = parsed.data;
  const retention = {
    assertions: e.CDS_RETENTION_ASSERTIONS_DAYS,
    audit: e.CDS_RETENTION_AUDIT_DAYS,
    feedback: e.CDS_RETENTION_FEEDBACK_DAYS,
  };
  if (e.DATABASE_URL !== undefined) {
    return {
      engine: 'postgres',
      databaseUrl: e.DATABASE_URL,
      retention,
      poolSize: e.CDS_DB_POOL_SIZE,
      statementTimeoutMs: 5000,
    };
  }
  return {
    engine: 'sqlite',
    file: resolve(e.CDS_DATA_DIR, SQLITE_FILE_NAME),
    retention,
    synchronous: e.CDS_SQLITE_SYNCHRONOUS,
    busyTimeoutMs: 5000,
  };
}
