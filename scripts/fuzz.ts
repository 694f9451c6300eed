/**
 * npm run fuzz — a longer fuzzing run than the one inside npm test, bounded in count and time:
 * FUZZ_RUNS (default 3000) mutated order-sign requests and random bodies, stopping after FUZZ_SECONDS (default 60).
 * Prints the status counts, the slowest answers and memory before and after (samples generated first, garbage
 * collected before each reading); exits 1 on any 5xx or invalid body, 2 on a bad setting.
 */
import fc from 'fast-check';
import { testApp } from '../test/support/app.js';
import { request as fixtureRequest } from '../test/support/fixtures.js';
import { mutatedBodies, sendFuzzed, type FuzzAnswer } from '../test/support/fuzz.js';
import { scenarioFiles } from '../test/support/scenarios.js';
import { CliError, intFromEnv, run } from './cli.js';

await run('fuzz', async () => {
  if (process.argv.length > 2)
    throw new CliError('usage: npm run fuzz   (settings: FUZZ_RUNS, FUZZ_SECONDS, FUZZ_SEED)', 2);
  const runs = intFromEnv('FUZZ_RUNS', 3000);
  const seconds = intFromEnv('FUZZ_SECONDS', 60);
  const seed = intFromEnv('FUZZ_SEED', Date.now() % 2 ** 31);
  if (runs === 0) throw new CliError('FUZZ_RUNS must be at least 1', 2);
  const { app } = testApp({ LOG_LEVEL: 'silent' });
  const bases = [
    fixtureRequest('renal-cryoablation-prefetched.json'),
    ...scenarioFiles()
      .slice(0, 20)
      .map((s) => s.fixture.request),
  ];
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
  const answers: FuzzAnswer[] = [];
  const problems: string[] = [];
  const samples = fc.sample(fc.constantFrom(...bases).chain(mutatedBodies), { numRuns: runs, seed });
  global.gc?.();
  const before = process.memoryUsage();
  const deadline = Date.now() + seconds * 1000;
  for (const body of samples) {
    if (Date.now() > deadline) break;
    const a = await sendFuzzed(app, '/cds-services/cryoablation-order-sign', body);
    answers.push(a);
    if (a.problem) problems.push(a.problem);
  }
  global.gc?.();
  const after = process.memoryUsage();
  const byStatus = answers.reduce<Record<number, number>>((m, a) => ({ ...m, [a.status]: (m[a.status] ?? 0) + 1 }), {});
  const slowest = [...answers].sort((a, b) => b.ms - a.ms).slice(0, 3);
  process.stdout.write(
    [
      `requests: ${answers.length} (of ${runs} planned, ${seconds} s budget)`,
      `statuses: ${JSON.stringify(byStatus)}`,
      `slowest: ${slowest.map((a) => `${a.ms.toFixed(1)} ms (HTTP ${a.status})`).join(', ')}`,
      `median: ${[...answers].sort((a, b) => a.ms - b.ms)[Math.floor(answers.length / 2)]?.ms.toFixed(1)} ms`,
      `memory: rss ${mb(before.rss)} → ${mb(after.rss)}, heap ${mb(before.heapUsed)} → ${mb(after.heapUsed)}`,
      `problems: ${problems.length}`,
      ...problems.slice(0, 10).map((p) => `  ${p}`),
    ].join('\n') + '\n',
  );
  return problems.length > 0 ? 1 : 0;
});
