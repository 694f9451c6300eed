/**
 * The ONE place the bench names the service's code. It never imports src/: it starts the entry point as a child
 * process with environment variables, so module moves inside src/ do not break the bench.
 * It runs the built dist/server/main.js (built first); BENCH_SERVICE_ENTRY overrides the entry.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const REPO_ROOT = ROOT;

/** The built entry point, as `npm start` runs it. */
export const BUILT_ENTRY = 'dist/server/main.js';

/**
 * The service's entry point, relative to the repository root: the built `dist/server/main.js` that `npm start`
 * runs (production runs no TypeScript loader, and tsx adds ~35 MB of RSS); BENCH_SERVICE_ENTRY overrides it, e.g.
 * `src/server/main.ts` (run with tsx) or another worktree's build.
 */
export function serviceScript(): string {
  return process.env['BENCH_SERVICE_ENTRY'] ?? BUILT_ENTRY;
}

/** Builds dist/ as `npm start` does (`npm run build`) when the entry run is this repository's build. */
export function buildIfNeeded(entries: readonly string[] = [serviceScript()]): void {
  if (!entries.some((e) => e.startsWith('dist/'))) return;
  process.stderr.write('npm run build (the bench runs the built service)\n');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
}

/** The service's identifier in hooks/cryoablation/service.yaml: the URL path called. */
export const SERVICE_PATH = '/cds-services/cryoablation-order-sign';

/** BENCH_STORE_ENV ("KEY=value,KEY2=value"): store variables that override the bench's, e.g. a DATABASE_URL. */
export function storeOverrides(): Record<string, string> {
  const raw = process.env['BENCH_STORE_ENV'] ?? '';
  const pairs = raw
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.includes('='))
    .map((p): [string, string] => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]);
  return Object.fromEntries(pairs);
}

/**
 * The store of one service child: SQLite under its own folder of the run's temporary directory (never the
 * repository's ./data), so every case starts from an empty store; BENCH_STORE_ENV overrides (e.g.
 * `DATABASE_URL=postgres://...` for a PostgreSQL run, `CDS_SQLITE_SYNCHRONOUS=NORMAL`). DATABASE_URL is always set
 * (empty means SQLite) so that the bench's own environment never leaks into the child.
 */
export function storeEnv(tmpDir: string, name: string): Record<string, string> {
  return { DATABASE_URL: '', CDS_DATA_DIR: join(tmpDir, `store-${name}`), ...storeOverrides() };
}

export interface StoreDescription {
  readonly engine: 'sqlite' | 'postgres';
  /** SQLite's PRAGMA synchronous (the service's default is FULL) */
  readonly synchronous?: string;
  readonly where: string;
}

/** Which store a service environment names (never the database URL: it may hold a password). */
export function describeStore(env: Readonly<Record<string, string>>, where: string): StoreDescription {
  if (env['DATABASE_URL']) return { engine: 'postgres', where: 'DATABASE_URL' };
  return { engine: 'sqlite', synchronous: env['CDS_SQLITE_SYNCHRONOUS'] ?? 'FULL', where };
}

/** Which store the service children run on, as the reports print it. */
export function storeDescription(): StoreDescription {
  const env = storeEnv('<tmp>', '<case>');
  const ownFolder = env['CDS_DATA_DIR']?.startsWith('<tmp>') === true;
  return describeStore(env, ownFolder ? "a folder of the run's temporary directory per service child" : 'CDS_DATA_DIR');
}

export const storeText = (d: StoreDescription): string =>
  d.engine === 'postgres' ? `PostgreSQL (${d.where})` : `SQLite, synchronous=${d.synchronous ?? 'FULL'} (${d.where})`;

export interface ServiceEnvOptions {
  readonly port: number;
  readonly trustedClientsFile: string;
  readonly production: boolean;
  readonly tmpDir: string;
  /** names the child's store folder */
  readonly name: string;
  readonly fhirAllowlist?: string;
}

/** The service's environment for a bench run: production, authentication on, loopback only. */
export function serviceEnv(o: ServiceEnvOptions): Record<string, string> {
  return {
    ...(o.production ? { NODE_ENV: 'production' } : { NODE_ENV: 'development' }),
    PORT: String(o.port),
    HOST: '127.0.0.1',
    CDS_PUBLIC_BASE_URL: `http://127.0.0.1:${o.port}`,
    CDS_AUTH: 'on',
    CDS_TRUSTED_CLIENTS: o.trustedClientsFile,
    LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'info',
    // a 5,000-resource record is about 5 MB of JSON: room for the growth series
    CDS_BODY_LIMIT: '20mb',
    CDS_MAX_RESOURCES: '10000',
    ...(o.fhirAllowlist ? { CDS_FHIR_ALLOWLIST: o.fhirAllowlist } : {}),
    ...storeEnv(o.tmpDir, o.name),
  };
}
