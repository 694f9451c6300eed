import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { orderSign } from '../../src/cds-hooks/order-sign.js';
import type { HookService } from '../../src/cds-hooks/registry.js';
import { configFrom } from '../../src/server/config.js';
import type { OrderDecision } from '../../src/rules/decision.js';
import { walk, type NodeResult } from '../../src/rules/evaluate.js';
import { SCENARIO_DIR } from '../../scripts/scenario-builder.js';

export interface ScenarioFixture {
  description: string;
  service: string;
  evaluationDate: string;
  tags?: string[];
  expected: Record<string, { outcome: string; nodes?: Record<string, string>; toDocument?: string[] }>;
  request: Record<string, any>;
}

export interface LoadedScenario {
  file: string;
  name: string;
  path: string;
  fixture: ScenarioFixture;
}

export function scenarioFiles(): LoadedScenario[] {
  return readdirSync(SCENARIO_DIR)
    .filter((d) => d !== 'source')
    .sort()
    .flatMap((dir) =>
      readdirSync(join(SCENARIO_DIR, dir))
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => {
          const path = join(SCENARIO_DIR, dir, f);
          return { file: dir, name: f.replace(/\.json$/, ''), path, fixture: JSON.parse(readFileSync(path, 'utf8')) as ScenarioFixture };
        }),
    );
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
  const roots = [...d.general, ...d.exclusions, ...d.definitions, ...d.sections.flatMap((s) => [s.indication, s.result])];
  return roots.flatMap((r) => [...walk(r)]);
}
