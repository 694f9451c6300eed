/**
 * npm run bench — order-sign latency against /health on the same server in one run (figures as ratios: the
 * machine is shared and noisy). BENCH_REQUESTS (default 400) sequential calls each, after 50 warm-up calls;
 * every scenario fixture is cycled through, so all sections and outcomes are evaluated.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { testApp } from '../test/support/app.js';
import { scenarioFiles } from '../test/support/scenarios.js';

const n = Number(process.env['BENCH_REQUESTS'] ?? 400);
const server = testApp({ LOG_LEVEL: 'silent' }).app.listen(0, '127.0.0.1');
await once(server, 'listening');
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const bodies = scenarioFiles().map((s) => JSON.stringify(s.fixture.request));

async function time(run: (i: number) => Promise<Response>): Promise<number[]> {
  for (let i = 0; i < 50; i += 1) await (await run(i)).arrayBuffer();
  const out: number[] = [];
  for (let i = 0; i < n; i += 1) {
    const t = performance.now();
    const res = await run(i);
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const heapBefore = process.memoryUsage().heapUsed;
const health = await time(() => fetch(`${base}/health`));
const sign = await time((i) =>
  fetch(`${base}/cds-services/cryoablation-order-sign`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: bodies[i % bodies.length] }),
);
const heapAfter = process.memoryUsage().heapUsed;
server.close();
const line = (name: string, xs: number[]) => `${name.padEnd(12)} p50 ${pct(xs, 50).toFixed(2)} ms  p95 ${pct(xs, 95).toFixed(2)} ms  p99 ${pct(xs, 99).toFixed(2)} ms`;
process.stdout.write(
  [
    `${n} sequential requests each, ${bodies.length} scenario fixtures cycled`,
    line('/health', health),
    line('order-sign', sign),
    `order-sign / health: p50 ×${(pct(sign, 50) / pct(health, 50)).toFixed(1)}, p95 ×${(pct(sign, 95) / pct(health, 95)).toFixed(1)}`,
    `order-sign p99 as a share of the CRD 5 s budget: ${((pct(sign, 99) / 5000) * 100).toFixed(2)} %`,
    `heap: ${(heapBefore / 1048576).toFixed(0)} MB → ${(heapAfter / 1048576).toFixed(0)} MB`,
  ].join('\n') + '\n',
);
