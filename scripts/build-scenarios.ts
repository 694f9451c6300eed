/**
 * npm run scenarios — regenerates every policy's scenario fixtures, hooks/<policy>/scenarios/<file>/<name>.json,
 * from hooks/<policy>/scenarios/<file>.yaml, for the shipped hooks folder and the test-only one (test/hooks).
 */
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { run } from './cli.js';
import { buildPolicyScenarios, scenariosDir } from './scenario-builder.js';
import { scenarioServices, templatesOf } from '../test/support/scenarios.js';

await run('scenarios', () => {
  for (const service of scenarioServices()) {
    const dir = scenariosDir(service.folder);
    const scenarios = buildPolicyScenarios(service.folder, service.definition.id, templatesOf(service));
    for (const entry of readdirSync(dir))
      if (statSync(join(dir, entry)).isDirectory()) rmSync(join(dir, entry), { recursive: true, force: true });
    for (const s of scenarios) {
      mkdirSync(join(dir, s.file), { recursive: true });
      writeFileSync(join(dir, s.file, `${s.name}.json`), `${JSON.stringify(s.fixture, null, 2)}\n`);
    }
    process.stdout.write(`${scenarios.length} scenarios written to ${relative(process.cwd(), dir)}/\n`);
  }
  return 0;
});
