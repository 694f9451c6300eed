import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SQLITE_FILE_NAME } from '../../src/store/index.js';
import { Writable } from 'node:stream';
import type { Express } from 'express';
import type { Registry } from '../../src/cds-hooks/registry.js';
import { authenticator } from '../../src/auth/client-auth.js';
import { trustedClients } from '../../src/auth/trusted-clients.js';
import { createApp } from '../../src/server/app.js';
import { configFrom, type Config } from '../../src/server/config.js';
import { createLogger, type Logger } from '../../src/server/logger.js';
import { adminConsumers } from '../../src/server/admin.js';
import { createMetrics, type Metrics } from '../../src/server/metrics.js';
import { storeJtiCheck } from '../../src/server/persistence.js';
import { StoreHolder } from '../../src/server/store-holder.js';
import { accessTokenKey, backendServices } from '../../src/server/dtr.js';
import { loadedRegistry } from './registries.js';

export interface TestApp {
  app: Express;
  config: Config;
  registry: Registry;
  /** Every log line written while the app ran, parsed. */
  logs: Record<string, unknown>[];
  /** The raw log text, for checks that nothing sensitive was written. */
  logText(): string;
  store: StoreHolder;
  metrics: Metrics;
  /** The SQLite folder (a new temporary one unless CDS_DATA_DIR was given). */
  dataDir: string;
  /** Closes the store. */
  close(): Promise<void>;
}

/** A new temporary data folder, so no test writes ./data. */
export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'crd-data-'));
}

/** The store (opened on first use, so tests that never reach it do not pay for it) and the metrics an app needs; the store under a temporary folder unless `config` names one. */
export function appServices(
  config: Config,
  logger: Logger = createLogger('silent'),
  now?: () => Date,
): { store: StoreHolder; metrics: Metrics } {
  const defaultFile = resolve('data', SQLITE_FILE_NAME);
  const storeConfig =
    config.store.engine === 'sqlite' && config.store.file === defaultFile
      ? { ...config.store, file: join(tempDataDir(), SQLITE_FILE_NAME) }
      : config.store;
  const store = new StoreHolder(storeConfig, logger, {
    auditQueueCapacity: config.operations.auditQueueCapacity,
    retryMs: config.operations.storeRetryMs,
    purgeIntervalMs: config.operations.purgeIntervalMs,
    ...(now ? { now } : {}),
  });
  return { store, metrics: createMetrics(() => store) };
}

/** Environment for a spawned service: a temporary SQLite folder, never the DATABASE_URL the test run was given. */
export function isolatedStore(): Record<string, string> {
  return { CDS_DATA_DIR: tempDataDir(), DATABASE_URL: '' };
}

/** configFrom with a temporary CDS_DATA_DIR unless one is given. */
export function testConfig(env: Record<string, string> = {}): Config {
  return configFrom({ CDS_DATA_DIR: tempDataDir(), ...env });
}

/** The shipped policies' registry (CDS_HOOKS_DIR default), compiled once per test worker (./registries.ts). */
export function shippedRegistry(): Registry {
  return loadedRegistry(configFrom().hooksDir);
}

/** The app on a pinned clock (the scenario fixtures' evaluation date) unless `now` says otherwise. */
export function testApp(
  env: Record<string, string> = {},
  now: () => Date = () => new Date('2026-11-23T12:00:00Z'),
): TestApp {
  const dataDir = env['CDS_DATA_DIR'] ?? tempDataDir();
  // NORMAL: a test process needs no power-cut durability, and the fixture loops commit hundreds of calls.
  const config = configFrom({ CDS_AUTH: 'off', CDS_DATA_DIR: dataDir, CDS_SQLITE_SYNCHRONOUS: 'NORMAL', ...env });
  const registry = shippedRegistry();
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = createLogger(env['LOG_LEVEL'] ?? 'debug', sink);
  // The trusted clients sign client JWTs (when CDS_AUTH is on) and DTR token requests (always).
  const clients = trustedClients(config.trustedClientsFile);
  if (!clients.ok) throw new Error(clients.errors.join('\n'));
  const { store, metrics } = appServices(config, logger, now);
  const tokens = backendServices({
    config,
    clients: clients.clients,
    signingKey: accessTokenKey(config),
    store,
    logger,
    now,
  });
  const auth = config.auth
    ? authenticator({
        clients: clients.clients,
        clockSkewSec: config.clockSkewSec,
        now: () => now().getTime(),
        claimJti: storeJtiCheck(store, logger),
      })
    : undefined;
  const consumers = adminConsumers(config);
  if (!consumers.ok) throw new Error(consumers.errors.join('\n'));
  const app = createApp({
    config,
    registry,
    logger,
    now,
    store,
    metrics,
    tokens,
    adminConsumers: consumers.consumers,
    ...(auth ? { authenticator: auth } : {}),
  });
  return {
    app,
    config,
    registry,
    store,
    metrics,
    dataDir,
    close: () => store.close(),
    get logs() {
      return raw
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    logText: () => raw.join(''),
  };
}
