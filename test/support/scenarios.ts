import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { orderSign } from '../../src/cds-hooks/order-sign.js';
import type { HookService } from '../../src/cds-hooks/registry.js';
import { loadedRegistry } from './registries.js';
import { configFrom } from '../../src/server/config.js';
import type { OrderDecision } from '../../src/rules/decision.js';
import { walk, type NodeResult } from '../../src/rules/evaluate.js';
import { scenariosDir, type ScenarioFixture } from '../../scripts/scenario-builder.js';

export type { ScenarioFixture } from '../../scripts/scenario-builder.js';

/** Policy folders used only by tests (never loaded in production): the same layout as hooks/. */
export const TEST_HOOKS_DIR = fileURLToPath(new URL('../hooks', import.meta.url));

/** Every hooks folder whose services carry scenarios: the shipped one (CDS_HOOKS_DIR default) and test/hooks. */
export function scenarioHookDirs(): string[] {
  return [configFrom().hooksDir, TEST_HOOKS_DIR];
}

function load(dir: string): readonly HookService[] {
  return loadedRegistry(dir).services;
}

/** Every service the registry loads from the given hooks folders; each must carry its own scenarios. */
export function scenarioServices(dirs: readonly string[] = scenarioHookDirs()): HookService[] {
  const services = dirs.flatMap(load);
  const ids = services.map((s) => s.definition.id);
  const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (twice.length > 0) throw new Error(`service ids used twice across ${dirs.join(', ')}: ${twice.join(', ')}`);
  return services;
}

/** A service's data queries as key → template, the form the scenario builder takes. */
export function templatesOf(service: HookService): Record<string, string> {
  return Object.fromEntries(service.queries.map((q) => [q.key, q.template]));
}

export interface LoadedScenario {
  file: string;
  name: string;
  path: string;
  fixture: ScenarioFixture;
}

/** The built scenarios of one policy folder: scenarios/<file>/<name>.json, sorted. */
export function policyScenarios(policyFolder: string): LoadedScenario[] {
  const dir = scenariosDir(policyFolder);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .flatMap((file) =>
      readdirSync(join(dir, file))
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => {
          const path = join(dir, file, f);
          return {
            file,
            name: f.replace(/\.json$/, ''),
            path,
            fixture: JSON.parse(readFileSync(path, 'utf8')) as ScenarioFixture,
          };
        }),
    );
}

/** The built scenarios of the shipped services (hooks/), unless other policy folders are named. */
export function scenarioFiles(
  policyFolders: readonly string[] = load(configFrom().hooksDir).map((s) => s.folder),
): LoadedScenario[] {
  return policyFolders.flatMap(policyScenarios);
}

/** Runs the scenario's request through the order-sign pipeline on its evaluation date. */
export async function runScenario(service: HookService, fixture: ScenarioFixture): Promise<OrderDecision[]> {
  const config = configFrom({ CDS_FHIR_TIMEOUT_MS: '1000' });
  const now = () => new Date(`${fixture.evaluationDate}T12:00:00Z`);
  const result = await orderSign(service, structuredClone(fixture.request), { settings: config, fetch, now });
  if (!result.ok) throw new Error(`HTTP ${result.failure.status}: ${JSON.stringify(result.failure.outcome)}`);
  return result.decisions;
}

/** Every node result of a decision: general rules, exclusions, definitions, indications and section trees. */
export function allResults(d: OrderDecision): NodeResult[] {
  const roots = [
    ...d.general,
    ...d.exclusions,
    ...d.definitions,
    ...d.sections.flatMap((s) => [s.indication, s.result]),
  ];
  return roots.flatMap((r) => [...walk(r)]);
}
