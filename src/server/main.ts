import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authenticator, type Authenticator } from '../auth/client-auth.js';
import { trustedClients, type TrustedClient } from '../auth/trusted-clients.js';
import { loadRegistry } from '../cds-hooks/registry.js';
import { adminConsumers } from './admin.js';
import { createApp } from './app.js';
import { accessTokenKey, backendServices } from './dtr.js';
import { loadConfig, withBoundPort } from './config.js';
import { boundUrl, listenFailure } from './listen.js';
import { createLogger } from './logger.js';
import { createMetrics } from './metrics.js';
import { storeJtiCheck } from './persistence.js';
import { gracefulShutdown } from './shutdown.js';
import { StoreHolder } from './store-holder.js';

/** Start-up failure: one line per cause (a single cause on the first line), exit code 1, no stack trace. */
function fail(lines: readonly string[]): never {
  process.stderr.write(
    lines.length === 1 ? `Cannot start: ${lines[0]}\n` : `Cannot start:\n${lines.map((l) => `  ${l}`).join('\n')}\n`,
  );
  process.exit(1);
}

const configResult = loadConfig(process.env);
if (!configResult.ok) fail(configResult.errors.map((e) => `configuration ${e}`));
const config = configResult.config;
const logger = createLogger(config.logLevel);

const registryResult = loadRegistry(config.hooksDir);
if (!registryResult.ok) fail(registryResult.errors);
const registry = registryResult.registry;

/** The trusted clients file: required with authentication on; with CDS_AUTH=off only DTR tokens use it. */
function loadClients(): readonly TrustedClient[] {
  const clients = trustedClients(config.trustedClientsFile);
  if (clients.ok) return clients.clients;
  if (config.auth) fail(clients.errors);
  logger.warn(
    { file: config.trustedClientsFile },
    'the trusted clients file cannot be read: no client can get a DTR access token',
  );
  return [];
}

function clientAuthenticator(): Authenticator | undefined {
  if (!config.auth) {
    logger.warn('CDS_AUTH=off: client authentication is disabled; use this for local experiments only');
    return undefined;
  }
  const dev = trusted.filter((c) => c.development);
  if (config.production && dev.length > 0) {
    fail([
      `${config.trustedClientsFile}: trusts development clients (${dev.map((c) => c.iss).join(', ')}); NODE_ENV=production refuses them`,
    ]);
  }
  logger.info({ clients: trusted.map((c) => c.iss) }, 'trusted CDS clients');
  if (dev.length > 0) {
    const exposed = !/^(127\.|localhost$|::1$)/.test(config.host);
    logger.warn(
      { developmentClients: dev.map((c) => c.iss), host: config.host },
      `development trust: clients whose private keys are public are trusted${exposed ? ' AND the service listens beyond loopback' : ''}; set NODE_ENV=production and CDS_TRUSTED_CLIENTS for real deployments`,
    );
  }
  return authenticator({ clients: trusted, clockSkewSec: config.clockSkewSec, claimJti: storeJtiCheck(store, logger) });
}

const consumers = adminConsumers(config);
if (!consumers.ok) fail(consumers.errors);
// Opened in the background and retried while the database is down: discovery answers meanwhile.
const store = new StoreHolder(config.store, logger, {
  auditQueueCapacity: config.operations.auditQueueCapacity,
  retryMs: config.operations.storeRetryMs,
  purgeIntervalMs: config.operations.purgeIntervalMs,
}).start();
const metrics = createMetrics(() => store, { defaultMetrics: true });
const trusted = loadClients();
const auth = clientAuthenticator();
let signingKey: ReturnType<typeof accessTokenKey>;
try {
  signingKey = accessTokenKey(config);
} catch (e) {
  fail([`configuration CDS_TOKEN_SIGNING_JWK: ${(e as Error).message}`]);
}
if (config.production && !config.tokenSigningJwk) {
  logger.warn(
    'CDS_TOKEN_SIGNING_JWK is not set: DTR access tokens are signed by a key made at start, so another instance refuses them',
  );
}
// The app is built once the port is bound, so that without CDS_PUBLIC_BASE_URL its links name the real port.
const server = createServer();
const listenError = (e: NodeJS.ErrnoException) => fail([listenFailure(config.host, config.port, e)]);
server.once('error', listenError);
server.listen(config.port, config.host, () => {
  server.off('error', listenError);
  server.on('error', (e) => logger.error({ error: e.message }, 'server error'));
  const { port } = server.address() as AddressInfo;
  const bound = withBoundPort(config, port);
  const tokens = backendServices({ config: bound, clients: trusted, signingKey, store, logger });
  server.on(
    'request',
    createApp({
      config: bound,
      registry,
      logger,
      store,
      metrics,
      tokens,
      adminConsumers: consumers.consumers,
      ...(auth ? { authenticator: auth } : {}),
    }),
  );
  logger.info(
    { host: config.host, port, services: registry.services.map((s) => s.definition.id), prefetch: config.prefetchMode },
    `listening on ${boundUrl(config.host, port)}/cds-services`,
  );
});
server.requestTimeout = config.limits.requestTimeoutMs;
server.headersTimeout = Math.min(config.limits.requestTimeoutMs, 10_000);

const shutdown = gracefulShutdown(server, logger, config.shutdownGraceMs);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    void shutdown()
      .then(() => store.close())
      .then(() => process.exit(0));
  });
}
