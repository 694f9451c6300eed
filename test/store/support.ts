import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DEFAULT_RETENTION, type RetentionDays, type StoreConfig } from '../../src/store/config.js';
import type { AssertionInput, AuditInput, Engine } from '../../src/store/index.js';
import { available } from '../support/required.js';

const BASE_URL = available(
  'postgres',
  Boolean(process.env.DATABASE_URL?.trim()),
  'DATABASE_URL is not set (postgres://postgres@127.0.0.1:5432/test runs them)',
)
  ? process.env.DATABASE_URL?.trim()
  : undefined;

/** SQLite always; PostgreSQL when DATABASE_URL names a server (each test gets a fresh database on it). */
export const engines: Engine[] = BASE_URL === undefined ? ['sqlite'] : ['sqlite', 'postgres'];
export const postgresUrl = BASE_URL;

const cleanups: Array<() => Promise<void>> = [];

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: BASE_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export interface Target {
  engine: Engine;
  /** A config for this target; `url` swaps the PostgreSQL address (for the proxy). */
  config(options?: { retention?: RetentionDays; url?: string }): StoreConfig;
  /** host and port of the PostgreSQL server, for a proxy in front of it. */
  server?: { host: string; port: number; database: string; url: string };
}

/** A new empty database: a file in a new temporary folder (not yet created), or `crd_test_<random>` on the server. */
export async function freshTarget(engine: Engine): Promise<Target> {
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'crd-store-'));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        }),
    );
    const file = join(dir, 'nested', 'crd.sqlite');
    return {
      engine,
      config: (options = {}) => ({
        engine: 'sqlite',
        file,
        retention: options.retention ?? DEFAULT_RETENTION,
        synchronous: 'FULL',
        busyTimeoutMs: 5000,
      }),
    };
  }
  if (BASE_URL === undefined) throw new Error('DATABASE_URL is not set');
  const database = `crd_test_${randomBytes(6).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${database}`));
  cleanups.push(() =>
    admin((client) => client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)).then(() => undefined),
  );
  const url = withDatabase(BASE_URL, database);
  const parsed = new URL(url);
  return {
    engine,
    server: { host: parsed.hostname, port: Number(parsed.port || 5432), database, url },
    config: (options = {}) => ({
      engine: 'postgres',
      databaseUrl: options.url ?? url,
      retention: options.retention ?? DEFAULT_RETENTION,
      poolSize: 5,
      statementTimeoutMs: 5000,
    }),
  };
}

/** Drops every database and folder the tests made (call in afterAll). */
export async function cleanupTargets(): Promise<void> {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup().catch(() => undefined)));
}

/** The client the test assertions are issued to by default, the one the default audit record names. */
export const CLIENT_ISS = 'https://sandbox.cds-hooks.org';

export function assertion(overrides: Partial<AssertionInput> = {}): AssertionInput {
  const id = overrides.id ?? randomUUID();
  return {
    id,
    serviceId: 'cryoablation-order-sign',
    hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
    orderRef: `ServiceRequest/${randomUUID()}`,
    orderCode: '50593',
    coverageRef: 'Coverage/cov-1',
    patientRef: 'Patient/example',
    decision: 'covered',
    coverageInformation: {
      url: 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information',
      extension: [
        { url: 'covered', valueCode: 'covered' },
        { url: 'coverage-assertion-id', valueString: id },
      ],
    },
    trace: { node: 'V', state: 'met', evidence: [{ reference: 'Observation/egfr', value: 48 }] },
    policyVersion: '2025-01',
    questionnaireCanonical: null,
    questionnaireVersion: null,
    orderSnapshot: { resourceType: 'ServiceRequest', status: 'draft', code: { coding: [{ code: '50593' }] } },
    clientIss: CLIENT_ISS,
    ...overrides,
  };
}

export function audit(overrides: Partial<AuditInput> = {}): AuditInput {
  return {
    kind: 'hook-call',
    clientIss: CLIENT_ISS,
    serviceId: 'cryoablation-order-sign',
    hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
    requestMeta: { hook: 'order-sign', fhirServer: 'https://ehr.example/fhir', userAgent: 'test' },
    response: { cards: [], systemActions: [] },
    status: 200,
    durationMs: 12,
    ...overrides,
  };
}

export interface Proxy {
  port: number;
  /** Refuses new connections and cuts every open one. */
  close(): Promise<void>;
}

/** A TCP proxy in front of host:port, so a test can cut the database away and bring it back on the same port. */
export async function startProxy(host: string, targetPort: number, listenPort = 0): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/** A fresh PostgreSQL target reached through a TCP proxy the test can cut and restore on the same port. */
export async function postgresBehindProxy(): Promise<{
  target: Target;
  /** The target's URL through the proxy. */
  url: string;
  cut: () => Promise<void>;
  restore: () => Promise<void>;
}> {
  const target = await freshTarget('postgres');
  const server = target.server!;
  let proxy = await startProxy(server.host, server.port);
  const port = proxy.port;
  const url = new URL(server.url);
  url.host = `127.0.0.1:${port}`;
  return {
    target,
    url: url.toString(),
    cut: () => proxy.close(),
    restore: async () => {
      proxy = await startProxy(server.host, server.port, port);
    },
  };
}
