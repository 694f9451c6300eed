/**
 * npm run bench:compare -- <entry> [<entry>...] — server CPU per request (and median latency) of cases (a), (c) and (d) (COMPARE_CASES,
 * default a,c,d) for several builds of the service (e.g. dist/server/main.js and a saved copy of an earlier build),
 * measured in alternation (COMPARE_ROUNDS, default 2) so that the machine's drift hits all alike. Sequential calls,
 * production mode. `KEY=value,...@<entry>` runs an entry with extra variables (e.g. CDS_SQLITE_SYNCHRONOUS=NORMAL).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sequentialCost, type Check } from './lib/measure.js';
import { buildIfNeeded, storeDescription, storeText } from './lib/service.js';
import { startService, type BenchContext } from './lib/targets.js';
import { benchClient, writeTrustedClients } from './lib/tokens.js';
import { coverageValues, loadScenario, outOfScope, recordOfSize } from './lib/workload.js';

const entries = process.argv.slice(2);
const ROUNDS = Number(process.env['COMPARE_ROUNDS'] ?? 2);
const SECONDS = Number(process.env['COMPARE_SECONDS'] ?? 3);
const CASES = (process.env['COMPARE_CASES'] ?? 'a,c,d').split(',').map((c) => c.trim());

/** `KEY=value,KEY2=value@entry`: an entry run with extra variables (e.g. CDS_SQLITE_SYNCHRONOUS=NORMAL). */
function parseEntry(spec: string): { script: string; env: Record<string, string> } {
  const at = spec.lastIndexOf('@');
  if (at < 0) return { script: spec, env: {} };
  const env = Object.fromEntries(
    spec
      .slice(0, at)
      .split(',')
      .filter((p) => p.includes('='))
      .map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]),
  );
  return { script: spec.slice(at + 1), env };
}

async function main(): Promise<void> {
  if (entries.length === 0) throw new Error('usage: npm run bench:compare -- [KEY=value,...@]<entry> ...');
  buildIfNeeded(entries.map((e) => parseEntry(e).script));
  const tmpDir = mkdtempSync(join(tmpdir(), 'crd-compare-'));
  const client = await benchClient();
  const ctx: BenchContext = { tmpDir, client, trustedClientsFile: writeTrustedClients(tmpDir, client) };
  const scenario = loadScenario();
  const covered: Check = (status, answer) =>
    status === 200 && coverageValues(answer)[0] === scenario.outcome ? undefined : `unexpected answer ${status}`;
  const nothing: Check = (status, answer) =>
    status === 200 && JSON.stringify(answer) === '{"cards":[],"systemActions":[]}'
      ? undefined
      : `unexpected answer ${status} for an order out of scope`;
  const all: Record<string, { body: () => string; check: Check }> = {
    a: { body: () => JSON.stringify(scenario.request), check: covered },
    c: { body: () => JSON.stringify(outOfScope(scenario.request)), check: nothing },
    d: { body: () => JSON.stringify(recordOfSize(scenario.request, 1_000_000).request), check: covered },
  };
  const cases = CASES.map((name) => {
    const c = all[name];
    if (!c) throw new Error(`COMPARE_CASES: unknown case "${name}" (a, c, d)`);
    return { name, body: c.body(), check: c.check };
  });
  const costs = new Map<string, number[]>();
  const latencies = new Map<string, number[]>();
  try {
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const [index, spec] of entries.entries()) {
        const entry = parseEntry(spec);
        process.env['BENCH_SERVICE_ENTRY'] = entry.script;
        const run = await startService(ctx, `compare-${round}-${index}`, { production: true, extraEnv: entry.env });
        try {
          for (const c of cases) {
            const key = `${spec}\t${c.name}`;
            const point = await sequentialCost(ctx, run, c.body, c.check, SECONDS);
            costs.set(key, [...(costs.get(key) ?? []), point.cpuMsPerRequest]);
            latencies.set(key, [...(latencies.get(key) ?? []), point.p50Ms]);
          }
        } finally {
          await run.child.stop();
        }
      }
    }
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
  const best = (key: string, m = costs): number => Math.min(...(m.get(key) ?? [Number.NaN]));
  const head = [
    'entry',
    ...cases.flatMap((c) => [`(${c.name}) CPU ms/req`, '× first', `(${c.name}) p50 ms`, '× first']),
  ];
  const lines = [head, head.map(() => '---')].map((cells) => `| ${cells.join(' | ')} |`);
  for (const spec of entries) {
    const cells = cases.flatMap((c) => {
      const x = best(`${spec}\t${c.name}`);
      const p = best(`${spec}\t${c.name}`, latencies);
      return [
        x.toFixed(3),
        (x / best(`${entries[0]}\t${c.name}`)).toFixed(2),
        p.toFixed(2),
        (p / best(`${entries[0]}\t${c.name}`, latencies)).toFixed(2),
      ];
    });
    lines.push(`| ${spec} | ${cells.join(' | ')} |`);
  }
  process.stdout.write(
    `best of ${ROUNDS} rounds, ${SECONDS} s of sequential calls each; store: ${storeText(storeDescription())}; load average ${loadavg()[0]?.toFixed(1)} at the end\n${lines.join('\n')}\n`,
  );
}

await main();
