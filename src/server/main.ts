import type { AddressInfo } from 'node:net';
import { loadRegistry } from '../cds-hooks/registry.js';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { gracefulShutdown } from './shutdown.js';

function fail(lines: readonly string[]): never {
  process.stderr.write(`Cannot start:\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
  process.exit(1);
}

const configResult = loadConfig(process.env);
if (!configResult.ok) fail(configResult.errors.map((e) => `configuration ${e}`));
const config = configResult.config;
const logger = createLogger(config.logLevel);

const registryResult = loadRegistry(config.hooksDir);
if (!registryResult.ok) fail(registryResult.errors);
const registry = registryResult.registry;

const server = createApp({ config, registry, logger }).listen(config.port, config.host, () => {
  const { port } = server.address() as AddressInfo;
  logger.info(
    { host: config.host, port, services: registry.services.map((s) => s.definition.id), prefetch: config.prefetchMode },
    `listening on http://${config.host}:${port}/cds-services`,
  );
});
server.on('error', (e) => fail([`cannot listen on ${config.host}:${config.port}: ${e.message}`]));

const shutdown = gracefulShutdown(server, logger, config.shutdownGraceMs);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    void shutdown().then(() => process.exit(0));
  });
}
