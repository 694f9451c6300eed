import { Writable } from 'node:stream';
import type { Express } from 'express';
import { loadRegistry, type Registry } from '../../src/cds-hooks/registry.js';
import { authenticator } from '../../src/auth/client-auth.js';
import { trustedClients } from '../../src/auth/trusted-clients.js';
import { createApp } from '../../src/server/app.js';
import { configFrom, type Config } from '../../src/server/config.js';
import { createLogger } from '../../src/server/logger.js';

export interface TestApp {
  app: Express;
  config: Config;
  registry: Registry;
  /** Every log line written while the app ran, parsed. */
  logs: Record<string, unknown>[];
  /** The raw log text, for checks that nothing sensitive was written. */
  logText(): string;
}

export function shippedRegistry(): Registry {
  const result = loadRegistry(configFrom().hooksDir);
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.registry;
}

/** The app on a pinned clock (the scenario fixtures' evaluation date) unless `now` says otherwise. */
export function testApp(env: Record<string, string> = {}, now: () => Date = () => new Date('2026-11-23T12:00:00Z')): TestApp {
  const config = configFrom({ CDS_AUTH: 'off', ...env });
  const registry = shippedRegistry();
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = createLogger(env['LOG_LEVEL'] ?? 'debug', sink);
  const clients = config.auth ? trustedClients(config.trustedClientsFile) : undefined;
  if (clients && !clients.ok) throw new Error(clients.errors.join('\n'));
  const auth = clients?.ok ? authenticator({ clients: clients.clients, clockSkewSec: config.clockSkewSec, now: () => now().getTime() }) : undefined;
  const app = createApp({ config, registry, logger, now, ...(auth ? { authenticator: auth } : {}) });
  return {
    app,
    config,
    registry,
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
