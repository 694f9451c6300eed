/**
 * The one place the replay imports the service's source (src/): starting it in-process. Everything else in the
 * replay drives the service over HTTP, as any client would, so a module move in src/ is fixed here alone.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { authenticator } from '../../src/auth/client-auth.js';
import { trustedClients } from '../../src/auth/trusted-clients.js';
import { loadRegistry } from '../../src/cds-hooks/registry.js';
import { createApp } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { createLogger } from '../../src/server/logger.js';
import { createMetrics } from '../../src/server/metrics.js';
import { storeJtiCheck } from '../../src/server/persistence.js';
import { StoreHolder } from '../../src/server/store-holder.js';
import { accessTokenKey, backendServices } from '../../src/server/dtr.js';

export interface RunningService {
  /** Base URL, e.g. http://127.0.0.1:43121 (discovery at `${url}/cds-services`). */
  readonly url: string;
  close(): Promise<void>;
}

/** Why the service could not start, one line per reason (as `npm start` would print them). */
export class ServiceStartError extends Error {}

type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

async function listenOnLoopback(handler: { current?: RequestHandler }): Promise<Server> {
  const server = createServer((req, res) => {
    if (handler.current) handler.current(req, res);
    else res.writeHead(503).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/**
 * The service as `npm start` runs it (client authentication on, the trusted clients file of the environment),
 * on a free loopback port, with `env` over process.env. CDS_PREFETCH defaults to `full` so that prefetch mode
 * is offered every data query; logs go to stderr at LOG_LEVEL (default silent).
 */
export async function startInProcess(env: Record<string, string> = {}): Promise<RunningService> {
  const handler: { current?: RequestHandler } = {};
  const server = await listenOnLoopback(handler);
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  // The assertions this run hands out are kept in a throw-away SQLite file unless the environment names a store.
  const dataDir = mkdtempSync(join(tmpdir(), 'crd-replay-'));
  let store: StoreHolder | undefined;
  const close = async (): Promise<void> => {
    await new Promise<void>((done) => {
      server.close(() => done());
      server.closeAllConnections();
    });
    await store?.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const result = loadConfig({
      CDS_PREFETCH: 'full',
      LOG_LEVEL: 'silent',
      CDS_DATA_DIR: dataDir,
      ...process.env,
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      CDS_PUBLIC_BASE_URL: url,
    });
    if (!result.ok) throw new ServiceStartError(`configuration ${result.errors.join('; ')}`);
    const config = result.config;
    const registry = loadRegistry(config.hooksDir);
    if (!registry.ok) throw new ServiceStartError(registry.errors.join('; '));
    const logger = createLogger(config.logLevel, process.stderr);
    store = new StoreHolder(config.store, logger, {
      auditQueueCapacity: config.operations.auditQueueCapacity,
      retryMs: config.operations.storeRetryMs,
      purgeIntervalMs: config.operations.purgeIntervalMs,
    }).start();
    const openStore = store;
    const metrics = createMetrics(() => openStore);
    const clients = trustedClients(config.trustedClientsFile);
    if (config.auth && !clients.ok) throw new ServiceStartError(clients.errors.join('; '));
    const trusted = clients.ok ? clients.clients : [];
    const auth = config.auth
      ? authenticator({
          clients: trusted,
          clockSkewSec: config.clockSkewSec,
          claimJti: storeJtiCheck(openStore, logger),
        })
      : undefined;
    // SMART Backend Services for DTR clients, the token endpoint under the loopback URL.
    const tokens = backendServices({
      config,
      clients: trusted,
      signingKey: accessTokenKey(config),
      store: openStore,
      logger,
    });
    handler.current = createApp({
      config,
      registry: registry.registry,
      logger,
      store: openStore,
      metrics,
      tokens,
      ...(auth ? { authenticator: auth } : {}),
    });
  } catch (e) {
    await close();
    throw e;
  }
  return { url, close };
}

/** The service's entry point as `npm start` runs it (built), for tests that start it as a separate process with tsx. */
export const SERVER_MAIN = fileURLToPath(new URL('../../src/server/main.ts', import.meta.url));
