/** npm run scenarios — regenerates fixtures/scenarios/<file>/<name>.json from fixtures/scenarios/source/*.yaml. */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRegistry } from '../src/cds-hooks/registry.js';
import { configFrom } from '../src/server/config.js';
import { buildAll, SCENARIO_DIR, SERVICE_ID } from './scenario-builder.js';

const registry = loadRegistry(configFrom().hooksDir);
if (!registry.ok) throw new Error(registry.errors.join('\n'));
const service = registry.registry.get(SERVICE_ID)!;
const templates = Object.fromEntries(service.queries.map((q) => [q.key, q.template]));
const scenarios = buildAll(templates);
for (const dir of readdirSync(SCENARIO_DIR)) if (dir !== 'source') rmSync(join(SCENARIO_DIR, dir), { recursive: true, force: true });
for (const s of scenarios) {
  mkdirSync(join(SCENARIO_DIR, s.file), { recursive: true });
  writeFileSync(join(SCENARIO_DIR, s.file, `${s.name}.json`), `${JSON.stringify(s.fixture, null, 2)}\n`);
}
process.stdout.write(`${scenarios.length} scenarios written to fixtures/scenarios/\n`);
