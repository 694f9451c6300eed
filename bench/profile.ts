/**
 * npm run bench:profile — `node --cpu-prof` on the service under case (a) (a covered cryoablation order, prefetch),
 * case (c) (the same order out of scope) and case (d) (the same order with a ~1 MB record); PROFILE_CASES picks
 * among a, b (the data fetched from the loopback https FHIR server), c and d (default a,c,d). Production mode,
 * authentication on; prints the top self-time functions, the time per module and the inclusive time of src/ functions, and writes bench/profile-results.json.
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
import type { FhirChild } from './lib/children.js';
import { makeCertificate, replayServer } from './lib/fhir-record.js';
import { startService, type BenchContext, type ServiceStart } from './lib/targets.js';
import { benchClient, signTokens, TokenPool, writeTrustedClients } from './lib/tokens.js';
import { coverageValues, fetchFromFhir, loadScenario, outOfScope, recordOfSize } from './lib/workload.js';

const SECONDS = Number(process.env['PROFILE_SECONDS'] ?? 10);
const CONNECTIONS = Number(process.env['PROFILE_CONNECTIONS'] ?? 4);
const CASES = new Set((process.env['PROFILE_CASES'] ?? 'a,c,d').split(',').map((c) => c.trim()));

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
  start: Omit<ServiceStart, 'nodeOptions'>,
): Promise<{ file: string; requests: number; rps: number; fromUs: number }> {
  const dir = join(outDir, name);
  mkdirSync(dir, { recursive: true });
  const run = await startService(ctx, `profile-${name}`, {
    ...start,
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
    const tokens = new TokenPool(await signTokens(ctx.client, run.url, expected));
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const result = await runPhase({
      url: run.url,
      body,
      tokens,
      connections: CONNECTIONS,
      seconds: SECONDS,
    });
    return { file: '', requests: result.ok, rps: result.rps, fromUs };
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
  const prod: Omit<ServiceStart, 'nodeOptions'> = { production: true };
  let fhir: FhirChild | undefined;
  const fhirCase = async (): Promise<{ body: string; start: Omit<ServiceStart, 'nodeOptions'> }> => {
    const tls = makeCertificate(tmpDir);
    const expected = scenario.outcome;
    const replay = await replayServer(ctx, tls, scenario.request, (status, answer) =>
      status === 200 && coverageValues(answer)[0] === expected ? undefined : `unexpected answer ${status}`,
    );
    fhir = replay.server;
    return {
      body: JSON.stringify(fetchFromFhir(scenario.request, replay.server.url)),
      start: { production: true, fhirAllowlist: replay.server.url, extraEnv: { NODE_EXTRA_CA_CERTS: tls.certFile } },
    };
  };
  const cases = [
    {
      name: 'a',
      label: `(a) ${scenario.file}`,
      body: () => Promise.resolve({ body: JSON.stringify(scenario.request), start: prod }),
    },
    { name: 'b', label: `(b) the same fetched from a loopback https FHIR server`, body: fhirCase },
    {
      name: 'c',
      label: '(c) the same order with an out-of-scope code',
      body: () => Promise.resolve({ body: JSON.stringify(outOfScope(scenario.request)), start: prod }),
    },
    {
      name: 'd',
      label: `(d) the same with ${big.resources} resources`,
      body: () => Promise.resolve({ body: JSON.stringify(big.request), start: prod }),
    },
  ].filter((c) => CASES.has(c.name));
  const out: Record<string, unknown> = { store: storeDescription() };
  process.stdout.write(`Store: ${storeText(storeDescription())}\n\n`);
  try {
    for (const c of cases) {
      const { body, start } = await c.body();
      const run = await profileCase(ctx, c.name, body, outDir, start);
      const file = largestProfile(join(outDir, c.name));
      // only the measured phase: start-up (policy compilation) and warm-up left out
      const summary = summarize(file, 25, run.fromUs);
      const src = inclusiveIn(file, /^(src|dist)\//, 20, run.fromUs);
      out[c.name] = { label: c.label, requests: run.requests, rps: run.rps, profile: file, summary, src };
      const busyPerRequest = summary.busyMs / Math.max(1, run.requests);
      process.stdout.write(
        [
          `## ${c.label}`,
          `${run.requests} requests in ${SECONDS} s at ${CONNECTIONS} connections (${run.rps.toFixed(0)} req/s); sampled busy time ${summary.busyMs.toFixed(0)} ms ≈ ${busyPerRequest.toFixed(2)} ms per request (the measured phase only)`,
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
    await fhir?.stop();
    if (!process.env['PROFILE_DIR']) rmSync(tmpDir, { recursive: true, force: true });
  }
}

await main();
