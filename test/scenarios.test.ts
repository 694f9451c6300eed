import { describe, expect, test } from 'vitest';
import { buildAll, SERVICE_ID } from '../scripts/scenario-builder.js';
import type { OrderDecision } from '../src/rules/decision.js';
import type { NodeState } from '../src/rules/evaluate.js';
import { shippedRegistry } from './support/app.js';
import { allResults, runScenario, scenarioFiles } from './support/scenarios.js';

/**
 * Scenario fixtures (fixtures/scenarios/) with their expected decisions, generated into tests; then the policy
 * coverage check: every node of the policy is seen met, not met and unknown somewhere, unless it declares that
 * state unreachable with a reason.
 */

const service = shippedRegistry().get(SERVICE_ID)!;
const scenarios = scenarioFiles();
const runs = new Map<string, Promise<OrderDecision[]>>(scenarios.map((s) => [s.path, runScenario(service, s.fixture)]));

describe.each([...new Set(scenarios.map((s) => s.file))])('scenarios %s', (file) => {
  test.each(scenarios.filter((s) => s.file === file).map((s) => [s.name, s] as const))('%s', async (_name, s) => {
    const decisions = await runs.get(s.path)!;
    for (const [reference, expected] of Object.entries(s.fixture.expected)) {
      const d = decisions.find((x) => x.reference === reference);
      if (expected.outcome === 'out-of-scope') {
        expect(d, `${reference} gets no decision from this service`).toBeUndefined();
        continue;
      }
      expect(d, `${reference} evaluated`).toBeDefined();
      const results = allResults(d!);
      const states = Object.fromEntries(Object.keys(expected.nodes ?? {}).map((id) => [id, results.find((r) => r.id === id)?.state]));
      expect({ outcome: d!.outcome, nodes: states }, s.fixture.description).toEqual({ outcome: expected.outcome, nodes: expected.nodes ?? {} });
      if (expected.toDocument) expect(d!.toDocument.map((n) => n.id).sort()).toEqual([...expected.toDocument].sort());
    }
  });
});

describe('scenario fixtures', () => {
  test('are fresh: regenerating them from fixtures/scenarios/source gives the committed files', () => {
    const templates = Object.fromEntries(service.queries.map((q) => [q.key, q.template]));
    const built = buildAll(templates).map((s) => [`${s.file}/${s.name}`, s.fixture]);
    const onDisk = scenarios.map((s) => [`${s.file}/${s.name}`, s.fixture]);
    expect(Object.fromEntries(onDisk)).toEqual(Object.fromEntries(built));
  });

  test('cover the themes the policy rules must handle', () => {
    const tags = new Set(scenarios.flatMap((s) => s.fixture.tags ?? []));
    for (const tag of ['unit-conversion', 'stale-result', 'untrusted-records', 'multiple-orders', 'no-reason', 'snomed-reason', 'attestation-covers']) {
      expect(tags.has(tag), `a scenario tagged ${tag}`).toBe(true);
    }
  });
});

describe('policy coverage', () => {
  const STATES: NodeState[] = ['met', 'not-met', 'unknown'];

  async function seen(): Promise<{ states: Map<string, Set<NodeState>>; decisions: OrderDecision[] }> {
    const states = new Map<string, Set<NodeState>>();
    const decisions = (await Promise.all(runs.values())).flat();
    for (const d of decisions) {
      for (const r of allResults(d)) {
        if (!states.has(r.id)) states.set(r.id, new Set());
        states.get(r.id)!.add(r.state);
      }
    }
    return { states, decisions };
  }

  test('every node of the policy is exercised as met, not met and unknown, or declares the state unreachable', async () => {
    const { states } = await seen();
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
    const { states } = await seen();
    const contradictions = [...service.policy.nodes.values()].flatMap((n) =>
      (Object.keys(n.unreachable) as NodeState[]).filter((s) => states.get(n.id)?.has(s)).map((s) => `${n.id} ${s}`),
    );
    expect(contradictions).toEqual([]);
  });

  test('every section is met on its own in some scenario (covered by that section alone)', async () => {
    const { decisions } = await seen();
    const alone = new Set(decisions.filter((d) => d.outcome === 'covered' && d.metSections.length === 1).map((d) => d.metSections[0]));
    expect(service.policy.sections.map((s) => s.node.id).filter((id) => !alone.has(id))).toEqual([]);
  });

  test('every outcome is produced by some scenario', async () => {
    const { decisions } = await seen();
    expect(new Set(decisions.map((d) => d.outcome))).toEqual(
      new Set(['covered', 'documentation-needed', 'not-medically-necessary', 'investigative', 'no-coverage']),
    );
  });
});
