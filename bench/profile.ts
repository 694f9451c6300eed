/**
 * npm run bench:profile — `node --cpu-prof` on the service under case (a) (a covered cryoablation order, prefetch)
 * and case (d) (the same order with a ~1 MB record), production mode, authentication on; prints the top self-time
 * functions, the time per module and the inclusive time of src/ functions, and writes bench/profile-results.json.
 * PROFILE_SECONDS (default 10) of load at PROFILE_CONNECTIONS (default 4); profiles are kept in PROFILE_DIR if set.
 * It profiles the built service, as every bench runs it (`npm run build`, dist/: tsc keeps function names and line
 * numbers, which the tsx transform does not); BENCH_SERVICE_ENTRY overrides.
 */
import { mkdtempSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inclusiveIn, summarize, type FunctionTime } from './lib/cpuprofile.js';
import { runPhase } from './lib/load.js';
import { buildIfNeeded, storeDescription, storeText } from './lib/service.js';
import { startService, type BenchContext } from './lib/targets.js';
import { benchClient, signTokens, TokenPool, writeTrustedClients } from './lib/tokens.js';
import { loadScenario, recordOfSize } from './lib/workload.js';

const SECONDS = Number(process.env['PROFILE_SECONDS'] ?? 10);
const CONNECTIONS = Number(process.env['PROFILE_CONNECTIONS'] ?? 4);

function largestProfile(dir: string): string {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const best = files.sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size)[0];
  if (!best) throw new Error(`no .cpuprofile written in ${dir}`);
  return join(dir, best);
}

async function profileCase(
  ctx: BenchContext,
  name: string,
  body: string,
  outDir: string,
): Promise<{ file: string; requests: number; rps: number }> {
  const dir = join(outDir, name);
  mkdirSync(dir, { recursive: true });
  const run = await startService(ctx, `profile-${name}`, {
    production: true,
    nodeOptions: ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '500'],
  });
  try {
    const warm = await runPhase({
      url: run.url,
      body,
      tokens: new TokenPool(await signTokens(ctx.client, run.url, 50)),
      connections: CONNECTIONS,
      seconds: 1,
    });
    const expected = Math.ceil(Math.max(warm.rps, 1) * SECONDS * 1.8) + 64;
    const result = await runPhase({
      url: run.url,
      body,
      tokens: new TokenPool(await signTokens(ctx.client, run.url, expected)),
      connections: CONNECTIONS,
      seconds: SECONDS,
    });
    return { file: '', requests: result.ok, rps: result.rps };
  } finally {
    await run.child.stop();
  }
}

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

function fnTable(rows: readonly FunctionTime[]): string {
  const head = ['self', 'total', 'function', 'where'];
  const lines = rows.map((r) => [pct(r.selfShare), pct(r.totalShare), `\`${r.fn}\``, r.where]);
  return [head, head.map(() => '---'), ...lines].map((c) => `| ${c.join(' | ')} |`).join('\n');
}

async function main(): Promise<void> {
  buildIfNeeded();
  const tmpDir = mkdtempSync(join(tmpdir(), 'crd-profile-'));
  const outDir = process.env['PROFILE_DIR'] ?? join(tmpDir, 'profiles');
  const client = await benchClient();
  const ctx: BenchContext = { tmpDir, client, trustedClientsFile: writeTrustedClients(tmpDir, client) };
  const scenario = loadScenario();
  const big = recordOfSize(scenario.request, 1_000_000);
  const cases = [
    { name: 'a', label: `(a) ${scenario.file}`, body: JSON.stringify(scenario.request) },
    { name: 'd', label: `(d) the same with ${big.resources} resources`, body: JSON.stringify(big.request) },
  ];
  const out: Record<string, unknown> = { store: storeDescription() };
  process.stdout.write(`Store: ${storeText(storeDescription())}\n\n`);
  try {
    for (const c of cases) {
      const run = await profileCase(ctx, c.name, c.body, outDir);
      const file = largestProfile(join(outDir, c.name));
      const summary = summarize(file, 25);
      const src = inclusiveIn(file, /^(src|dist)\//, 20);
      out[c.name] = { label: c.label, requests: run.requests, rps: run.rps, profile: file, summary, src };
      const busyPerRequest = summary.busyMs / Math.max(1, run.requests);
      process.stdout.write(
        [
          `## ${c.label}`,
          `${run.requests} requests in ${SECONDS} s at ${CONNECTIONS} connections (${run.rps.toFixed(0)} req/s); sampled busy time ${summary.busyMs.toFixed(0)} ms ≈ ${busyPerRequest.toFixed(2)} ms per request (warm-up and start-up included)`,
          '',
          'Top self time:',
          '',
          fnTable(summary.functions),
          '',
          'Self time per module:',
          '',
          [
            '| self | module |',
            '| --- | --- |',
            ...summary.modules.map((m) => `| ${pct(m.selfShare)} | ${m.module} |`),
          ].join('\n'),
          '',
          'Inclusive time of the service’s own functions:',
          '',
          fnTable(src),
          '',
        ].join('\n'),
      );
    }
    writeFileSync(
      fileURLToPath(new URL('./profile-results.json', import.meta.url)),
      `${JSON.stringify(out, null, 2)}\n`,
    );
  } finally {
    if (!process.env['PROFILE_DIR']) rmSync(tmpDir, { recursive: true, force: true });
  }
}

await main();
