import { basename } from 'node:path';
import { describe, expect, test } from 'vitest';
import { buildPolicyScenarios, loadShorthands } from '../scripts/scenario-builder.js';
import type { HookService } from '../src/cds-hooks/registry.js';
import type { OrderDecision } from '../src/rules/decision.js';
import type { NodeState } from '../src/rules/evaluate.js';
import { questionnaireUrl } from '../src/rules/questionnaire.js';
import {
  allResults,
  policyScenarios,
  runScenario,
  scenarioServices,
  templatesOf,
  type LoadedScenario,
} from './support/scenarios.js';

/**
 * For every service the registry loads (hooks/ and the test-only test/hooks/): its scenario fixtures
 * (hooks/<policy>/scenarios/) with their expected decisions, generated into tests; their freshness against the
 * sources; then the policy coverage check: every node of the policy is seen met, not met and unknown somewhere,
 * unless it declares that state unreachable with a reason.
 */

const STATES: NodeState[] = ['met', 'not-met', 'unknown'];
const OUTCOMES = ['covered', 'documentation-needed', 'not-medically-necessary', 'investigative', 'no-coverage'];

interface PolicyUnderTest {
  readonly service: HookService;
  readonly scenarios: LoadedScenario[];
  readonly runs: Map<string, Promise<OrderDecision[]>>;
}

const policies: [string, PolicyUnderTest][] = scenarioServices().map((service) => {
  const scenarios = policyScenarios(service.folder);
  return [`${basename(service.folder)} (${service.definition.id})`, { service, scenarios, runs: new Map() }];
});

/** Each scenario runs once, when a test first asks for it. */
function run(p: PolicyUnderTest, s: LoadedScenario): Promise<OrderDecision[]> {
  let r = p.runs.get(s.path);
  if (!r) p.runs.set(s.path, (r = runScenario(p.service, s.fixture)));
  return r;
}

async function seen(p: PolicyUnderTest): Promise<{ states: Map<string, Set<NodeState>>; decisions: OrderDecision[] }> {
  const states = new Map<string, Set<NodeState>>();
  const decisions = (await Promise.all(p.scenarios.map((s) => run(p, s)))).flat();
  for (const d of decisions) {
    for (const r of allResults(d)) {
      if (!states.has(r.id)) states.set(r.id, new Set());
      states.get(r.id)!.add(r.state);
    }
  }
  return { states, decisions };
}

test('the scenario tests cover the shipped policy and the test-only one', () => {
  expect(policies.map(([name]) => name)).toEqual(
    expect.arrayContaining([expect.stringMatching(/^cryoablation /), expect.stringMatching(/^lumbar-mri /)]),
  );
});

describe.each(policies)('policy %s', (_policy, p) => {
  const { service, scenarios } = p;

  test('carries scenarios', () => {
    expect(scenarios.length).toBeGreaterThan(0);
  });

  describe.each([...new Set(scenarios.map((s) => s.file))])('scenarios %s', (file) => {
    test.each(scenarios.filter((s) => s.file === file).map((s) => [s.name, s] as const))('%s', async (_name, s) => {
      expect(s.fixture.service).toBe(service.definition.id);
      const decisions = await run(p, s);
      for (const [reference, expected] of Object.entries(s.fixture.expected)) {
        const d = decisions.find((x) => x.reference === reference);
        if (expected.outcome === 'out-of-scope') {
          expect(d, `${reference} gets no decision from this service`).toBeUndefined();
          continue;
        }
        expect(d, `${reference} evaluated`).toBeDefined();
        const results = allResults(d!);
        const states = Object.fromEntries(
          Object.keys(expected.nodes ?? {}).map((id) => [id, results.find((r) => r.id === id)?.state]),
        );
        expect({ outcome: d!.outcome, nodes: states }, s.fixture.description).toEqual({
          outcome: expected.outcome,
          nodes: expected.nodes ?? {},
        });
        if (expected.toDocument) expect(d!.toDocument.map((n) => n.id).sort()).toEqual([...expected.toDocument].sort());
      }
    });
  });

  describe('scenario fixtures', () => {
    test('are fresh: regenerating them from the scenario sources gives the committed files', () => {
      const built = buildPolicyScenarios(service.folder, service.definition.id, templatesOf(service)).map((s) => [
        `${s.file}/${s.name}`,
        s.fixture,
      ]);
      const onDisk = scenarios.map((s) => [`${s.file}/${s.name}`, s.fixture]);
      expect(Object.fromEntries(onDisk)).toEqual(Object.fromEntries(built));
    });

    test("attest to the service's own Questionnaire", () => {
      const { questionnaire } = loadShorthands(service.folder);
      expect(questionnaire).toEqual({
        url: questionnaireUrl(service.policy),
        version: service.policy.questionnaire.version,
      });
    });
  });

  describe('policy coverage', () => {
    test('every node of the policy is exercised as met, not met and unknown, or declares the state unreachable', async () => {
      const { states } = await seen(p);
      const gaps: string[] = [];
      for (const node of service.policy.nodes.values()) {
        for (const state of STATES) {
          if (node.unreachable[state]) continue;
          if (!states.get(node.id)?.has(state)) gaps.push(`${node.id} ${state}`);
        }
      }
      expect(gaps).toEqual([]);
    });

    test('a state declared unreachable is indeed never seen', async () => {
      const { states } = await seen(p);
      const contradictions = [...service.policy.nodes.values()].flatMap((n) =>
        (Object.keys(n.unreachable) as NodeState[]).filter((s) => states.get(n.id)?.has(s)).map((s) => `${n.id} ${s}`),
      );
      expect(contradictions).toEqual([]);
    });

    test('every section is met on its own in some scenario (covered by that section alone)', async () => {
      const { decisions } = await seen(p);
      const alone = new Set(
        decisions.filter((d) => d.outcome === 'covered' && d.metSections.length === 1).map((d) => d.metSections[0]),
      );
      expect(service.policy.sections.map((s) => s.node.id).filter((id) => !alone.has(id))).toEqual([]);
    });

    test('every outcome is produced by some scenario', async () => {
      const { decisions } = await seen(p);
      expect(new Set(decisions.map((d) => d.outcome))).toEqual(new Set(OUTCOMES));
    });
  });
});

describe('cryoablation scenarios', () => {
  test('cover the themes the policy rules must handle', () => {
    const cryo = policies.find(([, p]) => p.service.definition.id === 'cryoablation-order-sign')![1];
    const tags = new Set(cryo.scenarios.flatMap((s) => s.fixture.tags ?? []));
    for (const tag of [
      'unit-conversion',
      'stale-result',
      'untrusted-records',
      'multiple-orders',
      'no-reason',
      'snomed-reason',
      'attestation-covers',
    ]) {
      expect(tags.has(tag), `a scenario tagged ${tag}`).toBe(true);
    }
  });
});
