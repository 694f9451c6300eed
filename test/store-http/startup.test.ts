import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { isolatedStore } from '../support/app.js';
import { signRequest } from './support.js';

const MAIN = fileURLToPath(new URL('../../src/server/main.ts', import.meta.url));

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

test('with the database down at start-up the service starts, answers discovery, logs the store failure once, and answers 503 for orders in scope', async () => {
  const port = await closedPort();
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: {
      ...process.env,
      ...isolatedStore(),
      DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/none`,
      CDS_STORE_RETRY_MS: '200',
      PORT: '0',
      LOG_LEVEL: 'info',
      CDS_AUTH: 'off',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const entries: { msg?: string; port?: number }[] = [];
  const lines = createInterface({ input: child.stdout });
  const listening = new Promise<number>((resolve) => {
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      entries.push(entry);
      if (entry.port) resolve(entry.port);
    });
  });
  try {
    const base = `http://127.0.0.1:${await listening}`;
    expect((await fetch(`${base}/cds-services`)).status).toBe(200);
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const signed = await fetch(`${base}/cds-services/cryoablation-order-sign`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(signRequest()),
    });
    expect(signed.status).toBe(503);
    expect(signed.headers.get('retry-after')).toBe('5');
    expect((await fetch(`${base}/ready`)).status).toBe(503);
    await new Promise((r) => setTimeout(r, 1000)); // several retries
    expect(entries.filter((e) => e.msg?.startsWith('store cannot be opened')).length).toBe(1);
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}, 30_000);
