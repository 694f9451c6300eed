/**
 * npm run soak — mixed traffic against the service for SOAK_SECONDS (default 300): every built scenario of
 * hooks/cryoablation/scenarios (all sections and outcomes), an order out of scope and, every SOAK_LARGE_EVERY-th
 * request slot, a ~1 MB record; at SOAK_RATE requests/s (default 40) over 8 connections, production mode,
 * authentication on, each request with its own token. The server runs with --expose-gc; after the warm-up and
 * after every SOAK_SEGMENT seconds the harness forces a GC in it over IPC (lib/probe.mjs) and reads RSS and heap.
 * Passes when, from the first to the last reading, the heap after GC grows by at most SOAK_MAX_HEAP_GROWTH_MB
 * (default 5) and RSS by at most SOAK_MAX_RSS_GROWTH_PCT % (default 20), and no answer is a 5xx.
 * Tokens live 60 s, so the replay cache (entries kept until exp) is at its steady size at both readings.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPhase } from './lib/load.js';
import type { ProbeReply } from './lib/probe-protocol.js';
import { buildIfNeeded, REPO_ROOT, storeDescription, storeText } from './lib/service.js';
import { linearFit } from './lib/stats.js';
import { startService, type BenchContext } from './lib/targets.js';
import { benchClient, signTokens, TokenPool, writeTrustedClients } from './lib/tokens.js';
import { loadScenario, outOfScope, recordOfSize } from './lib/workload.js';

const SECONDS = Number(process.env['SOAK_SECONDS'] ?? 300);
const RATE = Number(process.env['SOAK_RATE'] ?? 40);
const SEGMENT = Number(process.env['SOAK_SEGMENT'] ?? 30);
const LARGE_EVERY = Number(process.env['SOAK_LARGE_EVERY'] ?? 25);
const MAX_HEAP_MB = Number(process.env['SOAK_MAX_HEAP_GROWTH_MB'] ?? 5);
const MAX_RSS_PCT = Number(process.env['SOAK_MAX_RSS_GROWTH_PCT'] ?? 20);
const CONNECTIONS = 8;
const TOKEN_LIFE_S = 60;

/** Every built scenario request of the policy folder. */
function scenarioBodies(): string[] {
  const dir = join(REPO_ROOT, 'hooks/cryoablation/scenarios');
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      readdirSync(join(dir, d.name))
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) =>
          JSON.stringify((JSON.parse(readFileSync(join(dir, d.name, f), 'utf8')) as { request: unknown }).request),
        ),
    );
}

/** The mix: scenarios and out-of-scope orders in turn, a large record every LARGE_EVERY-th slot. */
function mix(): string[] {
  const base = loadScenario().request;
  const scenarios = scenarioBodies();
  const out = JSON.stringify(outOfScope(base));
  const large = JSON.stringify(recordOfSize(base, 1_000_000).request);
  const bodies: string[] = [];
  scenarios.forEach((b, i) => {
    bodies.push(b);
    if (i % 3 === 0) bodies.push(out);
    if (bodies.length % LARGE_EVERY === 0) bodies.push(large);
  });
  return bodies;
}

interface Reading {
  readonly atS: number;
  readonly requests: number;
  readonly p99: number;
  readonly rssMb: number;
  readonly heapMb: number;
}

const mb = (b: number): number => b / 2 ** 20;
const reading = (atS: number, requests: number, p99: number, s: ProbeReply): Reading => ({
  atS,
  requests,
  p99,
  rssMb: mb(s.rssBytes),
  heapMb: mb(s.heapUsedBytes),
});

async function main(): Promise<void> {
  buildIfNeeded();
  const tmpDir = mkdtempSync(join(tmpdir(), 'crd-soak-'));
  const client = await benchClient();
  const ctx: BenchContext = { tmpDir, client, trustedClientsFile: writeTrustedClients(tmpDir, client) };
  const bodies = mix();
  const run = await startService(ctx, 'service-soak', { production: true, nodeOptions: ['--expose-gc'] });
  const statuses: Record<string, number> = {};
  const readings: Reading[] = [];
  const started = performance.now();
  const elapsed = (): number => (performance.now() - started) / 1000;
  const warmup = Math.min(60, SECONDS * 0.2);
  try {
    const segment = async (seconds: number): Promise<{ ok: number; p99: number }> => {
      const tokens = new TokenPool(
        await signTokens(client, run.url, Math.ceil(RATE * seconds * 1.1) + 4 * CONNECTIONS, TOKEN_LIFE_S),
      );
      const r = await runPhase({
        url: run.url,
        body: bodies,
        tokens,
        connections: CONNECTIONS,
        seconds,
        overallRate: RATE,
      });
      for (const [s, n] of Object.entries(r.statuses)) statuses[s] = (statuses[s] ?? 0) + n;
      return { ok: r.ok, p99: r.p99 };
    };
    const w = await segment(warmup);
    readings.push(reading(elapsed(), w.ok, w.p99, await run.child.gc()));
    process.stderr.write(`soak: warm-up done, ${bodies.length} bodies in the mix\n`);
    while (elapsed() < SECONDS) {
      const s = await segment(Math.min(SEGMENT, Math.max(1, SECONDS - elapsed())));
      readings.push(reading(elapsed(), s.ok, s.p99, await run.child.gc()));
      process.stderr.write(`soak: ${elapsed().toFixed(0)} s\n`);
    }
  } finally {
    await run.child.stop();
    rmSync(tmpDir, { recursive: true, force: true });
  }
  const first = readings[0]!;
  const last = readings[readings.length - 1]!;
  const heapGrowth = last.heapMb - first.heapMb;
  const rssGrowthPct = ((last.rssMb - first.rssMb) / first.rssMb) * 100;
  const slope =
    readings.length > 2
      ? linearFit(
          readings.map((r) => r.atS / 60),
          readings.map((r) => r.heapMb),
        ).slope
      : 0;
  const serverErrors = Object.entries(statuses).reduce((n, [s, c]) => (s.startsWith('5') ? n + c : n), 0);
  const pass = heapGrowth <= MAX_HEAP_MB && rssGrowthPct <= MAX_RSS_PCT && serverErrors === 0;
  const rows = readings.map(
    (r) =>
      `| ${r.atS.toFixed(0)} | ${r.requests} | ${r.p99.toFixed(1)} | ${r.rssMb.toFixed(1)} | ${r.heapMb.toFixed(1)} |`,
  );
  process.stdout.write(
    [
      `Soak: ${SECONDS} s at ${RATE} req/s, ${CONNECTIONS} connections, ${bodies.length} bodies in turn (scenarios, out of scope, a ~1 MB record)`,
      `store: ${storeText(storeDescription())}`,
      `answers: ${Object.entries(statuses)
        .map(([s, n]) => `${s}: ${n}`)
        .join(', ')}`,
      '',
      '| at s | requests in segment | p99 ms | RSS MB (after GC) | heap MB (after GC) |',
      '| --- | --- | --- | --- | --- |',
      ...rows,
      '',
      `heap after GC: ${first.heapMb.toFixed(1)} → ${last.heapMb.toFixed(1)} MB (${heapGrowth >= 0 ? '+' : ''}${heapGrowth.toFixed(1)} MB, limit ${MAX_HEAP_MB} MB; trend ${slope.toFixed(2)} MB/min)`,
      `RSS: ${first.rssMb.toFixed(0)} → ${last.rssMb.toFixed(0)} MB (${rssGrowthPct >= 0 ? '+' : ''}${rssGrowthPct.toFixed(1)} %, limit ${MAX_RSS_PCT} %)`,
      `5xx answers: ${serverErrors}`,
      pass ? 'PASS: no growth' : 'FAIL',
      '',
    ].join('\n'),
  );
  process.exitCode = pass ? 0 : 1;
}

await main();
