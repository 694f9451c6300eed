/**
 * npm run try-scenarios -- hooks/<policy>/scenarios/<file>.yaml [section ids...]
 * Builds the scenarios of one source file in memory (writes nothing), runs each through the order-sign
 * pipeline, and prints expected vs actual outcomes and node states; then, for the given section ids (or every
 * node when none is given), which node states no scenario of this file has exercised yet.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CliError, run, usage } from './cli.js';
import { orderSign } from '../src/cds-hooks/order-sign.js';
import { configFrom } from '../src/server/config.js';
import { walk, type NodeResult } from '../src/rules/evaluate.js';
import { buildSource, type ExpectedDecision, loadShorthands, loadSource, sourceName } from './scenario-builder.js';
import { scenarioServices, templatesOf } from '../test/support/scenarios.js';

await run('try-scenarios', async () => {
  const [file, ...sections] = process.argv.slice(2);
  if (file && !existsSync(file)) throw new CliError(`${file}: no such file`);
  if (!file || file.startsWith('-'))
    throw usage('npm run try-scenarios -- hooks/<policy>/scenarios/<file>.yaml [section ids]');
  // The policy folder is the one that holds the scenarios folder the source lives in.
  const folder = dirname(dirname(resolve(file)));
  const service = scenarioServices().find((s) => resolve(s.folder) === folder);
  if (!service)
    throw new CliError(
      `${file}: not in the scenarios folder of a loaded policy (hooks/<policy>/scenarios/ or test/hooks/<policy>/scenarios/)`,
    );
  const policy = {
    serviceId: service.definition.id,
    templates: templatesOf(service),
    shorthands: loadShorthands(folder),
  };
  const built = buildSource(policy, sourceName(file), loadSource(file));
  const seen = new Map<string, Set<string>>();
  let failures = 0;
  for (const s of built) {
    const f = s.fixture;
    const result = await orderSign(service, f.request, {
      settings: configFrom({ CDS_FHIR_TIMEOUT_MS: '1000' }),
      fetch,
      now: () => new Date(`${f.evaluationDate}T12:00:00Z`),
    });
    if (!result.ok) {
      failures += 1;
      process.stdout.write(
        `✗ ${s.name}: HTTP ${result.failure.status} ${JSON.stringify(result.failure.outcome.issue)}\n`,
      );
      continue;
    }
    for (const [reference, exp] of Object.entries(f.expected)) {
      const decided = result.decisions.some((d) => d.reference === reference);
      if (exp.outcome === 'out-of-scope' && decided) {
        failures += 1;
        process.stdout.write(`✗ ${s.name} ${reference}: decided, expected out of scope\n`);
      }
    }
    for (const d of result.decisions) {
      const results: NodeResult[] = [
        ...d.general,
        ...d.exclusions,
        ...d.definitions,
        ...d.sections.flatMap((x) => [x.indication, x.result]),
      ].flatMap((r) => [...walk(r)]);
      for (const r of results) (seen.get(r.id) ?? seen.set(r.id, new Set()).get(r.id)!).add(r.state);
      const exp: ExpectedDecision = f.expected[d.reference ?? ''] ?? { outcome: 'absent' };
      const actualNodes = Object.fromEntries(
        Object.keys(exp.nodes ?? {}).map((id) => [id, results.find((r) => r.id === id)?.state ?? 'absent']),
      );
      const nodeMismatch = Object.entries(exp.nodes ?? {}).filter(([id, st]) => actualNodes[id] !== st);
      const docMismatch =
        exp.toDocument &&
        JSON.stringify([...exp.toDocument].sort()) !== JSON.stringify(d.toDocument.map((n) => n.id).sort());
      const ok = exp.outcome === d.outcome && nodeMismatch.length === 0 && !docMismatch;
      if (!ok) failures += 1;
      process.stdout.write(
        `${ok ? '✓' : '✗'} ${s.name} ${d.reference}: ${d.outcome}${ok ? '' : ` (expected ${exp.outcome})`}\n`,
      );
      for (const [id, st] of nodeMismatch) process.stdout.write(`    ${id}: ${actualNodes[id]} (expected ${st})\n`);
      if (docMismatch)
        process.stdout.write(
          `    toDocument: ${d.toDocument.map((n) => n.id).join(', ')} (expected ${(exp.toDocument ?? []).join(', ')})\n`,
        );
    }
  }
  const wanted = [...service.policy.nodes.values()].filter(
    (n) => sections.length === 0 || sections.some((sec) => n.id === sec || n.id.startsWith(`${sec}.`)),
  );
  const gaps = wanted.flatMap((n) =>
    (['met', 'not-met', 'unknown'] as const)
      .filter((st) => !n.unreachable[st] && !seen.get(n.id)?.has(st))
      .map((st) => `${n.id} ${st}`),
  );
  process.stdout.write(
    `\n${failures} failing; not yet exercised by this file: ${gaps.length === 0 ? 'none' : gaps.join(', ')}\n`,
  );
  return failures > 0 ? 1 : 0;
});
