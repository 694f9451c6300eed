/**
 * The ONE place the bench names the service's code. It never imports src/: it starts the entry point as a child
 * process with environment variables, so module moves inside src/ do not break the bench.
 * BENCH_SERVICE_ENTRY overrides the entry (e.g. dist/server/main.js after `npm run build`).
 */
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const REPO_ROOT = ROOT;

/**
 * The service's entry point, relative to the repository root: the TypeScript entry with tsx by default (robust to
 * module moves); `BENCH_SERVICE_ENTRY=dist/server/main.js` after `npm run build` runs it without the loader.
 */
export function serviceScript(): string {
  return process.env['BENCH_SERVICE_ENTRY'] ?? 'src/server/main.ts';
}

/** The service's identifier in hooks/cryoablation/service.yaml: the URL path called. */
export const SERVICE_PATH = '/cds-services/cryoablation-order-sign';

/**
 * TODO(store): the store (SQLite / PostgreSQL) is not integrated yet. When it is, return its settings here, e.g.
 * `{ CDS_STORE: 'sqlite', CDS_SQLITE_PATH: join(tmpDir, 'bench.sqlite') }` (the names the integration chooses),
 * so every service case runs with the store on SQLite. Until then BENCH_STORE_ENV ("KEY=value,KEY2=value")
 * passes extra variables without a code change.
 */

export function storeEnv(_tmpDir: string): Record<string, string> {
  const raw = process.env['BENCH_STORE_ENV'] ?? '';
  const pairs = raw
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.includes('='))
    .map((p): [string, string] => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]);
  return Object.fromEntries(pairs);
}

export interface ServiceEnvOptions {
  readonly port: number;
  readonly trustedClientsFile: string;
  readonly production: boolean;
  readonly tmpDir: string;
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
    ...storeEnv(o.tmpDir),
  };
}
