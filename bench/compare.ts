/**
 * npm run bench:compare -- <entry> [<entry>...] — server CPU per request of case (a) and case (d) for several
 * builds of the service (e.g. src/server/main.ts and a patched copy's entry), measured in alternation
 * (COMPARE_ROUNDS, default 2) so that the machine's drift hits all alike. Sequential calls, production mode.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sequentialCost, type Check } from './lib/measure.js';
import { buildIfNeeded, storeDescription, storeText } from './lib/service.js';
import { startService, type BenchContext } from './lib/targets.js';
import { benchClient, writeTrustedClients } from './lib/tokens.js';
import { coverageValues, loadScenario, recordOfSize } from './lib/workload.js';

const entries = process.argv.slice(2);
const ROUNDS = Number(process.env['COMPARE_ROUNDS'] ?? 2);
const SECONDS = Number(process.env['COMPARE_SECONDS'] ?? 3);

async function main(): Promise<void> {
  if (entries.length === 0) throw new Error('usage: npm run bench:compare -- <entry> [<entry>...]');
  buildIfNeeded(entries);
  const tmpDir = mkdtempSync(join(tmpdir(), 'crd-compare-'));
  const client = await benchClient();
  const ctx: BenchContext = { tmpDir, client, trustedClientsFile: writeTrustedClients(tmpDir, client) };
  const scenario = loadScenario();
  const check: Check = (status, answer) =>
    status === 200 && coverageValues(answer)[0] === scenario.outcome ? undefined : `unexpected answer ${status}`;
  const bodies = {
    a: JSON.stringify(scenario.request),
    d: JSON.stringify(recordOfSize(scenario.request, 1_000_000).request),
  };
  const costs = new Map<string, number[]>();
  try {
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const [index, entry] of entries.entries()) {
        process.env['BENCH_SERVICE_ENTRY'] = entry;
        const run = await startService(ctx, `compare-${round}-${index}`, { production: true });
        try {
          for (const [name, body] of Object.entries(bodies)) {
            const key = `${entry}\t${name}`;
            const point = await sequentialCost(ctx, run, body, check, SECONDS);
            costs.set(key, [...(costs.get(key) ?? []), point.cpuMsPerRequest]);
          }
        } finally {
          await run.child.stop();
        }
      }
    }
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
  const best = (key: string): number => Math.min(...(costs.get(key) ?? [Number.NaN]));
  const lines = ['| entry | (a) CPU ms/req | × first | (d) CPU ms/req | × first |', '| --- | --- | --- | --- | --- |'];
  for (const entry of entries) {
    const a = best(`${entry}\ta`);
    const d = best(`${entry}\td`);
    lines.push(
      `| ${entry} | ${a.toFixed(2)} | ${(a / best(`${entries[0]}\ta`)).toFixed(2)} | ${d.toFixed(2)} | ${(d / best(`${entries[0]}\td`)).toFixed(2)} |`,
    );
  }
  process.stdout.write(`best of ${ROUNDS} rounds, ${SECONDS} s of sequential calls each; store: ${storeText(storeDescription())}\n${lines.join('\n')}\n`);
}

await main();
