/**
 * npm run bench:signed — the integration's load run: BENCH_REQUESTS (default 300) sequential signed order-sign
 * calls (client JWT with a fresh jti each, signed ahead of time) and as many /health calls on the same
 * in-process server, reported as p50/p95 and as the ratio to /health (the machine is shared and noisy).
 * With the store wired in, each order-sign call commits its assertions, audit record and jti before it answers.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { testApp } from '../test/support/app.js';
import { clientJwt } from '../test/support/jwt.js';
import { scenarioFiles } from '../test/support/scenarios.js';
import { describeStore, storeOverrides, storeText } from './lib/service.js';

const n = Number(process.env['BENCH_REQUESTS'] ?? 300);
const PATH = '/cds-services/cryoablation-order-sign';
// The store as in production: SQLite FULL under a temporary folder (testApp's), or the PostgreSQL database of
// DATABASE_URL; BENCH_STORE_ENV overrides as for the other benches.
const storeEnv: Record<string, string> = {
  ...(process.env['DATABASE_URL']
    ? { DATABASE_URL: process.env['DATABASE_URL'] }
    : { CDS_SQLITE_SYNCHRONOUS: process.env['CDS_SQLITE_SYNCHRONOUS'] ?? 'FULL' }),
  ...storeOverrides(),
};
const test = testApp({ LOG_LEVEL: 'silent', CDS_AUTH: 'on', ...storeEnv });
const server = test.app.listen(0, '127.0.0.1');
await once(server, 'listening');
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const bodies = scenarioFiles().map((s) => JSON.stringify(s.fixture.request));
const tokens = await Promise.all(
  Array.from({ length: n + 50 }, () => clientJwt({ aud: `${test.config.publicBaseUrl}${PATH}` })),
);

async function time(run: (i: number) => Promise<Response>): Promise<number[]> {
  for (let i = 0; i < 50; i += 1) await (await run(i)).arrayBuffer();
  const out: number[] = [];
  for (let i = 50; i < n + 50; i += 1) {
    const t = performance.now();
    const res = await run(i);
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const health = await time(() => fetch(`${base}/health`));
const sign = await time((i) =>
  fetch(`${base}${PATH}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${tokens[i]!}` },
    body: bodies[i % bodies.length],
  }),
);
server.close();
await (test as { close?: () => Promise<void> }).close?.();
const line = (name: string, xs: number[]) =>
  `${name.padEnd(12)} p50 ${pct(xs, 50).toFixed(2)} ms  p95 ${pct(xs, 95).toFixed(2)} ms`;
process.stdout.write(
  [
    `${n} sequential signed requests each (store: ${storeText(describeStore(storeEnv, 'a temporary folder'))})`,
    line('/health', health),
    line('order-sign', sign),
    `order-sign / health: p50 ×${(pct(sign, 50) / pct(health, 50)).toFixed(1)}, p95 ×${(pct(sign, 95) / pct(health, 95)).toFixed(1)}`,
  ].join('\n') + '\n',
);
