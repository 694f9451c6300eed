import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { PrefetchMode } from '../cds-hooks/settings.js';
import { issueLines } from '../fhir/issues.js';
import { storeConfigFromEnv, type StoreConfig } from '../store/index.js';

export interface Config {
  readonly port: number;
  readonly host: string;
  /**
   * The base URL clients use (CDS_PUBLIC_BASE_URL), or in development without it http://localhost:$PORT (the
   * entry point puts the bound port there when PORT=0). Card links and policy page URLs use it.
   */
  readonly publicBaseUrl: string;
  /**
   * Development without CDS_PUBLIC_BASE_URL: the expected JWT `aud` is the URL the client called (scheme, Host,
   * path), so localhost, 127.0.0.1 and any port work.
   */
  readonly audienceFromRequest: boolean;
  /** `detailed`: a 401 says which check failed (RFC 6750 error_description); `minimal`: only error="invalid_token". */
  readonly authErrors: 'detailed' | 'minimal';
  readonly production: boolean;
  readonly fhirTimeoutMs: number;
  readonly fhirMaxPages: number;
  readonly bodyLimit: string;
  readonly corsOrigins: '*' | readonly string[];
  readonly prefetchMode: PrefetchMode;
  readonly hooksDir: string;
  readonly logLevel: string;
  readonly shutdownGraceMs: number;
  /** Where card links point instead of the service's own policy page (a criterion's anchor is appended). */
  readonly policyUrl?: string | undefined;
  /** The plan's time zone: the day an order is evaluated on (coverage periods, look-back windows). */
  readonly timeZone: string;
  readonly auth: boolean;
  readonly trustedClientsFile: string;
  readonly clockSkewSec: number;
  /** FHIR base URLs requests may name; undefined = the default (loopback in development, none in production). */
  readonly fhirAllowlist?: readonly string[] | undefined;
  readonly limits: {
    readonly jsonDepth: number;
    readonly draftOrders: number;
    /** Resources one call may bring in, prefetched and fetched together. */
    readonly resources: number;
    /** Bytes of FHIR answers one call may read, all queries and pages together. */
    readonly fhirTotalBytes: number;
    readonly fhirResponseBytes: number;
    readonly requestTimeoutMs: number;
  };
  /**
   * The private EC P-256 JWK that signs DTR access tokens (CDS_TOKEN_SIGNING_JWK), shared by every instance so
   * each accepts the others' tokens; undefined: a key made at start (tokens die with the process).
   */
  readonly tokenSigningJwk?: Readonly<Record<string, unknown>> | undefined;
  /** The store: SQLite under CDS_DATA_DIR, or PostgreSQL at DATABASE_URL; retention periods. */
  readonly store: StoreConfig;
  readonly operations: {
    /** Audit records held while the store is down (beyond it the oldest are dropped and counted). */
    readonly auditQueueCapacity: number;
    /** How often a store that could not be opened is tried again, and a store marked down is probed. */
    readonly storeRetryMs: number;
    /** How often purge() applies the retention periods; 0 never. */
    readonly purgeIntervalMs: number;
    /** GET /coverage-assertions consumers: a JSON file of names and token SHA-256 hashes. */
    readonly adminConsumersFile?: string | undefined;
    /** A single consumer's token (named "admin"); with CDS_ADMIN_CONSUMERS both apply. */
    readonly adminToken?: string | undefined;
    /** When set, GET /metrics wants it as a bearer token (a Prometheus scrape's `authorization`). */
    readonly metricsToken?: string | undefined;
  };
}

const DEFAULT_HOOKS_DIR = fileURLToPath(new URL('../../hooks', import.meta.url));
const DEFAULT_CLIENTS = fileURLToPath(new URL('../../config/trusted-clients.dev.json', import.meta.url));

function bytes(limit: string): number {
  const m = /^(\d+)(b|kb|mb)$/i.exec(limit);
  const unit = { b: 1, kb: 1024, mb: 1024 * 1024 }[(m?.[2] ?? 'b').toLowerCase() as 'b' | 'kb' | 'mb'];
  return Number(m?.[1] ?? 0) * unit;
}

const intFrom = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

/** A private EC P-256 JWK as JSON, or why not (the message never quotes the key). */
function signingJwk(text: string): Record<string, unknown> | string {
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    return 'must be a private JWK as JSON (kty EC, crv P-256, x, y, d, and a kid)';
  }
  const o = typeof jwk === 'object' && jwk !== null && !Array.isArray(jwk) ? (jwk as Record<string, unknown>) : {};
  if (o['kty'] !== 'EC' || o['crv'] !== 'P-256')
    return 'must be an EC P-256 JWK (kty "EC", crv "P-256"): access tokens are ES256';
  if (typeof o['d'] !== 'string' || typeof o['x'] !== 'string' || typeof o['y'] !== 'string')
    return 'must be a private JWK (x, y and d)';
  return o;
}

const envSchema = z.object({
  NODE_ENV: z.string().optional(),
  PORT: intFrom(0, 65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  CDS_PUBLIC_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** CRD answers within 5 s; the FHIR queries of one call get at most 4.5 s of it. */
  CDS_FHIR_TIMEOUT_MS: intFrom(1, 4500).default(3000),
  CDS_FHIR_MAX_PAGES: intFrom(1, 100).default(10),
  CDS_BODY_LIMIT: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i, 'must look like 500kb or 5mb')
    .default('5mb'),
  CDS_CORS_ORIGINS: z.string().optional(),
  CDS_PREFETCH: z.enum(['minimal', 'full']).default('minimal'),
  CDS_HOOKS_DIR: z.string().min(1).default(DEFAULT_HOOKS_DIR),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CDS_SHUTDOWN_GRACE_MS: intFrom(0, 600_000).default(10_000),
  CDS_POLICY_URL: z.url({ protocol: /^https?$/ }).optional(),
  CDS_TIMEZONE: z
    .string()
    .default('UTC')
    .refine((tz) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'must be an IANA time zone such as America/Chicago'),
  CDS_AUTH: z.enum(['on', 'off']).default('on'),
  CDS_AUTH_ERRORS: z.enum(['detailed', 'minimal']).default('detailed'),
  CDS_TRUSTED_CLIENTS: z.string().min(1).default(DEFAULT_CLIENTS),
  CDS_JWT_CLOCK_SKEW_S: intFrom(0, 300).default(60),
  CDS_FHIR_ALLOWLIST: z.string().optional(),
  CDS_MAX_JSON_DEPTH: intFrom(8, 1000).default(64),
  CDS_MAX_DRAFT_ORDERS: intFrom(1, 1000).default(20),
  CDS_MAX_RESOURCES: intFrom(1, 100_000).default(5000),
  CDS_FHIR_MAX_TOTAL: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i, 'must look like 500kb or 5mb')
    .default('20mb'),
  CDS_FHIR_MAX_RESPONSE: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i, 'must look like 500kb or 5mb')
    .default('10mb'),
  CDS_REQUEST_TIMEOUT_MS: intFrom(1000, 600_000).default(15_000),
  // Empty means unset. A secret: its value never appears in an error message.
  CDS_TOKEN_SIGNING_JWK: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v))
    .transform((v, ctx) => {
      if (v === undefined) return undefined;
      const jwk = signingJwk(v);
      if (typeof jwk === 'string') ctx.addIssue({ code: 'custom', message: jwk });
      return typeof jwk === 'string' ? undefined : jwk;
    }),
  CDS_AUDIT_QUEUE_SIZE: intFrom(1, 1_000_000).default(1000),
  CDS_STORE_RETRY_MS: intFrom(100, 600_000).default(2000),
  CDS_PURGE_INTERVAL_MIN: intFrom(0, 10_080).default(360),
  // Empty means unset (compose passes `${CDS_ADMIN_TOKEN:-}`).
  CDS_ADMIN_CONSUMERS: z
    .string()
    .optional()
    .transform((v) => (v === '' ? undefined : v)),
  CDS_ADMIN_TOKEN: z
    .string()
    .optional()
    .transform((v) => (v === '' ? undefined : v))
    .pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  CDS_METRICS_TOKEN: z
    .string()
    .optional()
    .transform((v) => (v === '' ? undefined : v))
    .pipe(z.string().min(32, 'must be at least 32 characters').optional()),
});

export type ConfigResult = { ok: true; config: Config } | { ok: false; errors: string[] };

function corsOrigins(raw: string | undefined, production: boolean): Config['corsOrigins'] {
  if (raw === undefined || raw.trim() === '') return production ? [] : '*';
  if (raw.trim() === '*') return '*';
  return raw
    .split(',')
    .map((o) => o.trim().replace(/\/+$/, ''))
    .filter((o) => o.length > 0);
}

/** Reads the service configuration from environment variables (see README, "Configuration"). */
export function loadConfig(env: NodeJS.ProcessEnv): ConfigResult {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    return { ok: false, errors: issueLines(parsed.error) };
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  const publicBaseUrl = (e.CDS_PUBLIC_BASE_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  const allowlist = e.CDS_FHIR_ALLOWLIST?.split(',')
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
  const badUrl = allowlist?.find((u) => !URL.canParse(u) || !/^https?:$/.test(new URL(u).protocol));
  let store: StoreConfig | undefined;
  let storeError: string | undefined;
  try {
    store = storeConfigFromEnv(env);
  } catch (error) {
    storeError = (error as Error).message;
  }
  const errors = [
    ...(badUrl ? [`CDS_FHIR_ALLOWLIST: ${badUrl} is not an http(s) base URL`] : []),
    ...(storeError ? [storeError] : []),
    ...(production && e.CDS_AUTH === 'off'
      ? ['CDS_AUTH: off is for local experiments; NODE_ENV=production requires client authentication']
      : []),
    ...(production && e.CDS_PUBLIC_BASE_URL === undefined
      ? [
          'CDS_PUBLIC_BASE_URL: required with NODE_ENV=production (the URL clients call, e.g. https://crd.example.org; JWT aud is checked against it)',
        ]
      : []),
  ];
  if (errors.length > 0 || !store) return { ok: false, errors };
  return {
    ok: true,
    config: {
      port: e.PORT,
      host: e.HOST,
      publicBaseUrl,
      audienceFromRequest: !production && e.CDS_PUBLIC_BASE_URL === undefined,
      authErrors: e.CDS_AUTH_ERRORS,
      production,
      fhirTimeoutMs: e.CDS_FHIR_TIMEOUT_MS,
      fhirMaxPages: e.CDS_FHIR_MAX_PAGES,
      bodyLimit: e.CDS_BODY_LIMIT.toLowerCase(),
      corsOrigins: corsOrigins(e.CDS_CORS_ORIGINS, production),
      prefetchMode: e.CDS_PREFETCH,
      hooksDir: e.CDS_HOOKS_DIR,
      logLevel: e.LOG_LEVEL,
      shutdownGraceMs: e.CDS_SHUTDOWN_GRACE_MS,
      policyUrl: e.CDS_POLICY_URL,
      timeZone: e.CDS_TIMEZONE,
      auth: e.CDS_AUTH === 'on',
      trustedClientsFile: e.CDS_TRUSTED_CLIENTS,
      clockSkewSec: e.CDS_JWT_CLOCK_SKEW_S,
      fhirAllowlist: allowlist,
      limits: {
        jsonDepth: e.CDS_MAX_JSON_DEPTH,
        draftOrders: e.CDS_MAX_DRAFT_ORDERS,
        resources: e.CDS_MAX_RESOURCES,
        fhirTotalBytes: bytes(e.CDS_FHIR_MAX_TOTAL),
        fhirResponseBytes: bytes(e.CDS_FHIR_MAX_RESPONSE),
        requestTimeoutMs: e.CDS_REQUEST_TIMEOUT_MS,
      },
      tokenSigningJwk: e.CDS_TOKEN_SIGNING_JWK,
      store,
      operations: {
        auditQueueCapacity: e.CDS_AUDIT_QUEUE_SIZE,
        storeRetryMs: e.CDS_STORE_RETRY_MS,
        purgeIntervalMs: e.CDS_PURGE_INTERVAL_MIN * 60_000,
        adminConsumersFile: e.CDS_ADMIN_CONSUMERS,
        adminToken: e.CDS_ADMIN_TOKEN,
        metricsToken: e.CDS_METRICS_TOKEN,
      },
    },
  };
}

/** The configuration once the server is bound: without CDS_PUBLIC_BASE_URL, links name the port actually bound. */
export function withBoundPort(config: Config, port: number): Config {
  return config.audienceFromRequest
    ? { ...config, port, publicBaseUrl: `http://localhost:${port}` }
    : { ...config, port };
}

/** Configuration for tests and tools: defaults overridden by the given environment-style values. */
export function configFrom(env: Record<string, string> = {}): Config {
  const result = loadConfig(env);
  if (!result.ok) throw new Error(`Invalid configuration: ${result.errors.join('; ')}`);
  return result.config;
}
