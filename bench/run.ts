/**
 * npm run bench — the service against the limit of a secure CDS service, in one run, loopback only.
 * Every server runs in its own child process (CPU time and peak RSS read over IPC); every request carries its own
 * pre-signed ES384 token (own jti, aud = the URL called). Prints a table and writes bench/results.json.
 *
 * BENCH_SECONDS  seconds per load phase (default 5)       BENCH_CONNECTIONS  fixed concurrency (default 16)
 * BENCH_RATE_SHARE  fixed rate as a share of saturation (0.8)  BENCH_GROWTH  record sizes (10,100,1000,5000)
 * BENCH_SCENARIO  the covered scenario (lib/workload.ts)   BENCH_SERVICE_ENTRY  default dist/server/main.js (built first)
 * BENCH_CASES  a subset of a,b,c,d,growth while iterating (results.json is written only for all of them)
 * BENCH_FHIR_DELAY_MS  case (b)'s parallelism check: each FHIR answer held this long (20)
 * BENCH_STORE_ENV  store variables overriding the default (SQLite FULL in the run's temporary folder), lib/service.ts
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FhirChild } from './lib/children.js';
import { makeCertificate, replayServer } from './lib/fhir-record.js';
import { machine } from './lib/machine.js';
import { measureTarget, sequentialCost, type Check, type GrowthPoint, type TargetResult } from './lib/measure.js';
import { growthReport, resultTable, type CaseRow } from './lib/report.js';
import { buildIfNeeded, serviceScript, storeDescription, storeText } from './lib/service.js';
import { startLimit, startService, type BenchContext, type ServiceStart } from './lib/targets.js';
import { benchClient, writeTrustedClients } from './lib/tokens.js';
import {
  coverageValues,
  fetchFromFhir,
  largeRecord,
  loadScenario,
  outOfScope,
  prefetchResources,
  recordOfSize,
} from './lib/workload.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 16);
const RATE_SHARE = Number(process.env['BENCH_RATE_SHARE'] ?? 0.8);
const GROWTH = (process.env['BENCH_GROWTH'] ?? '10,100,1000,5000').split(',').map(Number);
const ALL_CASES = 'a,b,c,d,growth';
const CASES = new Set((process.env['BENCH_CASES'] ?? ALL_CASES).split(',').map((c) => c.trim()));
const FHIR_DELAY_MS = Number(process.env['BENCH_FHIR_DELAY_MS'] ?? 20);
const options = { connections: CONNECTIONS, seconds: SECONDS, rateShare: RATE_SHARE };

const expectOutcome =
  (outcome: string): Check =>
  (status, answer) => {
    if (status !== 200) return `expected 200, got ${status}`;
    const values = coverageValues(answer);
    return values.length === 1 && values[0] === outcome
      ? undefined
      : `expected one coverage assertion "${outcome}", got [${values.join(', ')}]`;
  };

const expectNothing: Check = (status, answer) => {
  if (status !== 200) return `expected 200, got ${status}`;
  const a = answer as { cards?: unknown[]; systemActions?: unknown[] };
  return a.cards?.length === 0 && a.systemActions?.length === 0
    ? undefined
    : 'expected {"cards":[],"systemActions":[]} for an order out of scope';
};

const expectCard: Check = (status) => (status === 200 ? undefined : `expected 200, got ${status}`);

interface Case {
  readonly id: string;
  readonly label: string;
  readonly body: string;
  readonly resources: number;
  readonly check: Check;
  readonly start: ServiceStart;
  readonly limit: string;
  readonly note?: string;
}

interface LoadSample {
  readonly after: string;
  readonly load1: number;
}

const loadSample = (after: string): LoadSample => ({ after, load1: loadavg()[0] ?? 0 });

async function measureLimit(ctx: BenchContext, name: string, body: string): Promise<TargetResult> {
  const run = await startLimit(ctx, name);
  try {
    return await measureTarget(ctx, run, body, expectCard, options);
  } finally {
    await run.child.stop();
  }
}

async function measureService(ctx: BenchContext, c: Case): Promise<TargetResult> {
  const run = await startService(ctx, `service-${c.id}`, c.start);
  try {
    return await measureTarget(ctx, run, c.body, c.check, options);
  } finally {
    await run.child.stop();
  }
}

async function growth(
  ctx: BenchContext,
  request: Record<string, unknown>,
  outcome: string,
): Promise<{ service: GrowthPoint[]; limit: GrowthPoint[] }> {
  const seconds = Math.max(1.5, SECONDS * 0.4);
  const bodies = GROWTH.map((n) => ({ n, body: JSON.stringify(largeRecord(request, n)) }));
  const service = await startService(ctx, 'service-growth', { production: true });
  const limit = await startLimit(ctx, 'limit-growth');
  try {
    const s: GrowthPoint[] = [];
    const l: GrowthPoint[] = [];
    for (const { n, body } of bodies) {
      s.push({ ...(await sequentialCost(ctx, service, body, expectOutcome(outcome), seconds)), resources: n });
      l.push({ ...(await sequentialCost(ctx, limit, body, expectCard, seconds / 2)), resources: n });
    }
    return { service: s, limit: l };
  } finally {
    await service.child.stop();
    await limit.child.stop();
  }
}

interface Parallelism {
  readonly queries: number;
  readonly delayMs: number;
  /** sequential calls' median latency with the FHIR answers at once, and with each held `delayMs` */
  readonly p50NoDelayMs: number;
  readonly p50DelayedMs: number;
  readonly addedMs: number;
}

/**
 * Whether the service runs its FHIR queries in parallel: sequential calls with the answers at once, then with
 * each answer held FHIR_DELAY_MS by the replay server; in parallel the latency grows by about one delay, in
 * sequence by one per query.
 */
async function parallelism(
  ctx: BenchContext,
  start: ServiceStart,
  bodyFor: (fhirServer: string) => string,
  fhirServer: string,
  check: Check,
  queries: number,
): Promise<Parallelism> {
  const seconds = Math.max(1.5, SECONDS * 0.4);
  const run = await startService(ctx, 'service-parallel', start);
  try {
    const now = await sequentialCost(ctx, run, bodyFor(fhirServer), check, seconds);
    const held = await sequentialCost(ctx, run, bodyFor(`${fhirServer}/delay-${FHIR_DELAY_MS}`), check, seconds);
    return {
      queries,
      delayMs: FHIR_DELAY_MS,
      p50NoDelayMs: now.p50Ms,
      p50DelayedMs: held.p50Ms,
      addedMs: held.p50Ms - now.p50Ms,
    };
  } finally {
    await run.child.stop();
  }
}

const parallelismText = (p: Parallelism): string =>
  `(b) FHIR queries in parallel: sequential calls' p50 ${p.p50NoDelayMs.toFixed(1)} ms with the answers at once, ${p.p50DelayedMs.toFixed(1)} ms with each of the ${p.queries} answers held ${p.delayMs} ms: +${p.addedMs.toFixed(1)} ms, against ${p.delayMs} ms for one round trip (1 ×) and ${p.queries * p.delayMs} ms for ${p.queries} in sequence (${p.queries} ×) — ${p.addedMs < 2 * p.delayMs ? 'in parallel' : 'NOT in parallel'}`;

async function main(): Promise<void> {
  buildIfNeeded();
  const started = performance.now();
  const tmpDir = mkdtempSync(join(tmpdir(), 'crd-bench-'));
  const client = await benchClient();
  const ctx: BenchContext = { tmpDir, client, trustedClientsFile: writeTrustedClients(tmpDir, client) };
  const scenario = loadScenario();
  let fhir: FhirChild | undefined;
  try {
    const base = scenario.request;
    const tls = makeCertificate(tmpDir);
    const replay = await replayServer(ctx, tls, base, expectOutcome(scenario.outcome));
    fhir = replay.server;
    const startB: ServiceStart = {
      production: true,
      fhirAllowlist: fhir.url,
      extraEnv: { NODE_EXTRA_CA_CERTS: tls.certFile },
    };
    const big = recordOfSize(base, 1_000_000);
    const bodyA = JSON.stringify(base);
    const bodyB = JSON.stringify(fetchFromFhir(base, fhir.url));
    const bodyD = JSON.stringify(big.request);
    const prod: ServiceStart = { production: true };
    const cases: Case[] = [
      {
        id: 'a',
        label: '(a) cryoablation, prefetch',
        body: bodyA,
        resources: prefetchResources(base).length,
        check: expectOutcome(scenario.outcome),
        start: prod,
        limit: 'A',
      },
      {
        id: 'c',
        label: '(c) out of scope',
        body: JSON.stringify(outOfScope(base)),
        resources: prefetchResources(base).length,
        check: expectNothing,
        start: prod,
        limit: 'A',
      },
      {
        id: 'b',
        label: '(b) cryoablation, FHIR fetch',
        body: bodyB,
        resources: prefetchResources(base).length,
        check: expectOutcome(scenario.outcome),
        start: startB,
        limit: 'B',
        note: `production mode; ${replay.queries} FHIR queries per call, answered by a loopback https server (bench/fhir-replay-server.mjs, its own process) from answers recorded once from the Medplum test server`,
      },
      {
        id: 'd',
        label: '(d) large record, prefetch',
        body: bodyD,
        resources: big.resources,
        check: expectOutcome(scenario.outcome),
        start: prod,
        limit: 'D',
      },
    ];
    const limitBodies: Record<string, string> = { A: bodyA, B: bodyB, D: bodyD };
    const rows: CaseRow[] = [];
    const load: LoadSample[] = [loadSample('start')];
    // each limit is measured right before the cases compared with it: the machine's drift hits both alike
    const chosen = cases.filter((c) => CASES.has(c.id));
    for (const [key, body] of Object.entries(limitBodies)) {
      if (!chosen.some((c) => c.limit === key)) continue;
      const limit = await measureLimit(ctx, `limit-${key}`, body);
      rows.push({
        id: `limit-${key}`,
        label: `limit, body ${key === 'A' ? '(a)/(c)' : `(${key.toLowerCase()})`}`,
        bytes: body.length,
        resources: 0,
        result: limit,
        limit,
      });
      load.push(loadSample(`limit-${key}`));
      for (const c of chosen.filter((x) => x.limit === key)) {
        const result = await measureService(ctx, c);
        rows.push({
          id: c.id,
          label: c.label,
          bytes: c.body.length,
          resources: c.resources,
          result,
          limit,
          ...(c.note ? { note: c.note } : {}),
        });
        load.push(loadSample(c.id));
        process.stderr.write(`measured ${c.label}\n`);
      }
    }
    const fhirUrl = fhir.url;
    const parallel = CASES.has('b')
      ? await parallelism(
          ctx,
          startB,
          (server) => JSON.stringify(fetchFromFhir(base, server)),
          fhirUrl,
          expectOutcome(scenario.outcome),
          replay.queries,
        )
      : undefined;
    if (parallel) load.push(loadSample('parallel'));
    const replayStats = await fhir.stats();
    if (replayStats.missed > 0)
      throw new Error(`the replay FHIR server was asked ${replayStats.missed} paths it has no answer for`);
    const grown = CASES.has('growth') ? await growth(ctx, base, scenario.outcome) : { service: [], limit: [] };
    if (CASES.has('growth')) load.push(loadSample('growth'));
    const m = machine();
    const table = resultTable(rows, { connections: CONNECTIONS, seconds: SECONDS, rateShare: RATE_SHARE });
    const growthText = growthReport(grown.service, grown.limit);
    const notes = rows.flatMap((r) => (r.note ? [`${r.label}: ${r.note}`] : []));
    const store = storeDescription();
    const header = `${m.date.slice(0, 10)} · ${m.nproc} × ${m.cpuModel} · ${m.memoryGb} GB · Node ${m.node} · scenario ${scenario.file} (${scenario.outcome})`;
    const busy = load.some((l) => l.load1 > m.nproc);
    const loadText = `Load average (1 min) during the run: ${load.map((l) => `${l.after} ${l.load1.toFixed(1)}`).join(', ')}${busy ? ` — above ${m.nproc} (nproc): other work shared the machine, read the ratios rather than the absolute figures` : ''}`;
    process.stdout.write(
      `${header}\n\n${table.text}\n\n${CASES.has('growth') ? `${growthText.text}\n\n` : ''}${parallel ? `${parallelismText(parallel)}\n(b) the FHIR server answered ${replayStats.served} queries over ${replayStats.connections} TLS connections\n\n` : ''}${notes.map((n) => `Note: ${n}`).join('\n')}\nService: node ${serviceScript()}\nStore: ${storeText(store)}\n${loadText}\nWall time: ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
    );
    const results = {
      machine: m,
      scenario: scenario.file,
      options,
      service: serviceScript(),
      store,
      cases: table.json,
      growth: growthText.json,
      parallelism: parallel,
      fhirServer: replayStats,
      notes,
      loadAverage: load,
    };
    if ([...ALL_CASES.split(',')].every((c) => CASES.has(c)))
      writeFileSync(fileURLToPath(new URL('./results.json', import.meta.url)), `${JSON.stringify(results, null, 2)}\n`);
  } finally {
    await fhir?.stop();
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

await main();
