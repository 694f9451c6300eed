import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { environment } from '../src/rules/environment.js';
import { walk, type NodeResult } from '../src/rules/evaluate.js';
import { expressionSyntax } from '../src/rules/fhirpath-syntax.js';
import { POLICY_FILES } from '../src/rules/policy.js';
import { criteriaSchema, definitionsSchema, type NodeDefinition } from '../src/rules/policy-schema.js';
import { readYamlFile } from '../src/rules/yaml-file.js';
import { shippedRegistry } from './support/app.js';
import { allResults, runScenario, scenarioFiles, scenarioServices, type ScenarioFixture } from './support/scenarios.js';

/**
 * Rulings R1 and R2 (shared/policy/rulings.md): staging, size and status count only when tied to the treated cancer
 * (or untied with no other cancer on record), and the lesion at the ordered side.
 */

const service = shippedRegistry().get('cryoablation-order-sign')!;
const evidence = service.policy.evidence!;

type Json = Record<string, any>;

const resourcesOf = (f: ScenarioFixture): Json[] =>
  Object.values(f.request['prefetch'] as Json).flatMap((v: Json) =>
    v?.['resourceType'] === 'Bundle' ? (v['entry'] ?? []).map((e: Json) => e['resource']) : [],
  );

const isEvidenceCoded = (r: Json): boolean =>
  r['resourceType'] === 'Observation' &&
  (r['code']?.['coding'] ?? []).some((c: Json) => evidence.observations.some((l) => l.has(c['system'], c['code'])));

/** The met leaves under the criteria that decided a covered order. */
function decisiveLeaves(sections: readonly { result: NodeResult }[], decisive: readonly string[]): NodeResult[] {
  const roots = sections.flatMap((s) => [...walk(s.result)]).filter((r) => decisive.includes(r.id));
  return roots.flatMap((r) => [...walk(r)]).filter((r) => r.children.length === 0 && r.state === 'met');
}

const SECOND_CANCER = 'second-cancer';

/** The scenario with the given Observations moved onto a second cancer of the same member. */
function movedOntoSecondCancer(fixture: ScenarioFixture, moved: ReadonlySet<string>): ScenarioFixture {
  const f = structuredClone(fixture);
  const patient = `Patient/${String(f.request['context']['patientId'])}`;
  const strip = (refs: Json[] | undefined): Json[] | undefined =>
    refs?.filter((r) => !moved.has(String(r['reference'])));
  for (const r of resourcesOf(f)) {
    if (moved.has(`${String(r['resourceType'])}/${String(r['id'])}`))
      r['focus'] = [{ reference: `Condition/${SECOND_CANCER}` }];
    if (r['hasMember']) r['hasMember'] = strip(r['hasMember']);
    if (r['derivedFrom']) r['derivedFrom'] = strip(r['derivedFrom']);
    for (const stage of r['stage'] ?? []) if (stage['assessment']) stage['assessment'] = strip(stage['assessment']);
  }
  f.request['prefetch']['conditions']['entry'].push({
    resource: {
      resourceType: 'Condition',
      id: SECOND_CANCER,
      clinicalStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }],
      },
      verificationStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }],
      },
      code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'C34.90' }] },
      subject: { reference: patient },
      onsetDateTime: '2026-01-15',
    },
  });
  return f;
}

describe('ruling R1: evidence moved onto a second cancer no longer covers the order', async () => {
  const candidates: { name: string; fixture: ScenarioFixture; moved: Set<string> }[] = [];
  for (const s of scenarioFiles()) {
    const decisions = await runScenario(service, s.fixture);
    const d = decisions[0];
    if (!d || d.outcome !== 'covered' || !s.fixture.request['prefetch']?.['conditions']) continue;
    const leaves = decisiveLeaves(d.sections, d.decisive);
    // A leaf an agreeing attestation also speaks for stays decided when the record falls silent (R3): not a candidate.
    const attested = (l: NodeResult) => l.evidence.some((e) => e.reference?.startsWith('QuestionnaireResponse'));
    const byRecord = leaves.filter((l) => l.decidedBy === 'record' && !attested(l));
    const coded = new Map(
      resourcesOf(s.fixture)
        .filter(isEvidenceCoded)
        .map((r) => [`Observation/${String(r['id'])}`, r]),
    );
    const moved = new Set(
      byRecord.flatMap((l) => l.evidence.flatMap((e) => (e.reference && coded.has(e.reference) ? [e.reference] : []))),
    );
    // Only orders whose every decisive criterion rests on staging or size evidence from the record.
    const rests = d.decisive.every((id) =>
      decisiveLeaves(d.sections, [id]).some(
        (l) =>
          l.decidedBy === 'record' &&
          !attested(l) &&
          l.evidence.some((e) => e.reference !== undefined && moved.has(e.reference)),
      ),
    );
    if (moved.size > 0 && rests) candidates.push({ name: s.name, fixture: s.fixture, moved });
  }

  test('at least 20 covered scenarios rest on staging or size evidence', () => {
    expect(candidates.length).toBeGreaterThanOrEqual(20);
  });

  test.each(candidates.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const [d] = await runScenario(service, movedOntoSecondCancer(c.fixture, c.moved));
    expect(d!.outcome, `moved ${[...c.moved].join(', ')}`).not.toBe('covered');
  });
});

describe('ruling R1: untied evidence with several cancers', () => {
  test('is left out with a note on the criterion that would have read it', async () => {
    const s = scenarioFiles().find((x) => x.name === 'r1-kidney-t1a-untied-two-cancers-asked')!;
    const [d] = await runScenario(service, s.fixture);
    const va = allResults(d!).find((r) => r.id === 'V.A')!;
    expect(va.state).toBe('unknown');
    expect(va.notes.join(' ')).toMatch(/not counted \(ruling R1\).*cT1a.*another cancer/);
  });
});

describe('the record index', () => {
  test('is built once per request: the orders of one call share it', () => {
    const resources = [{ resourceType: 'Patient', id: 'p' } as fhir4.Resource];
    const input = { resources, patientId: 'p', evaluationDate: '2026-11-23', unavailableData: [] };
    const a = environment({ ...input, order: { resourceType: 'ServiceRequest', id: 'a' } });
    const b = environment({ ...input, order: { resourceType: 'ServiceRequest', id: 'b' } });
    expect(a.index).toBe(b.index);
  });
});

describe('rulings R1/R2: no definition reads staging, size or status from the member Observations at large', () => {
  const expressionsOf = (nodes: readonly NodeDefinition[]): [string, string][] =>
    nodes.flatMap((n) => [
      ...(n.met ? [[`${n.id} (met)`, n.met] as [string, string]] : []),
      ...(n.notMet ? [[`${n.id} (notMet)`, n.notMet] as [string, string]] : []),
      ...expressionsOf([...(n.all ?? []), ...(n.any ?? [])]),
    ]);

  test.each(scenarioServices().map((s) => [s.folder.split('/').slice(-2).join('/'), s.folder] as const))(
    '%s',
    (_name, folder) => {
      const defs = readYamlFile(join(folder, POLICY_FILES.definitions), 'definitions', definitionsSchema);
      const criteria = readYamlFile(join(folder, POLICY_FILES.criteria), 'criteria', criteriaSchema);
      if (!defs.ok || !criteria.ok) throw new Error('policy files do not load');
      const lists = new Set(defs.value.evidence?.observations ?? []);
      const c = criteria.value;
      const all: [string, string][] = [
        ...Object.entries(defs.value.definitions).map(([name, e]): [string, string] => [`%${name}`, e]),
        ...expressionsOf([
          ...c.general,
          ...c.definitions,
          ...c.sections.flatMap((s) => [s, s.indication]),
          ...c.exclusions,
        ]),
      ];
      // Definitions that read the member's Observations at large, directly or through another such definition.
      const atLarge = new Set(['observations']);
      for (let grown = true; grown;) {
        grown = false;
        for (const [name, e] of Object.entries(defs.value.definitions)) {
          if (!atLarge.has(name) && expressionSyntax(e).references.some((r) => atLarge.has(r)))
            grown = atLarge.add(name).size > 0;
        }
      }
      const untyped = (e: string): string => e.replace(/'(?:[^'\\]|\\.)*'/g, "''");
      const offenders = all.filter(([, e]) => {
        const syntax = expressionSyntax(e);
        const readsAtLarge = syntax.references.some((r) => atLarge.has(r)) || /\bObservation\b/.test(untyped(e));
        const named = [...syntax.literalArguments('inValueSet'), ...syntax.literalArguments('coded')];
        return readsAtLarge && named.some((l) => lists.has(l));
      });
      expect(offenders.map(([where]) => where)).toEqual([]);
    },
  );

  test('the check finds a definition that does', () => {
    const syntax = expressionSyntax("%observations.where(code.inValueSet('t-category')).latest()");
    expect(syntax.references).toContain('observations');
    expect(syntax.literalArguments('inValueSet')).toEqual(['t-category']);
    expect(evidence.observations.map((l) => l.name)).toContain('t-category');
    expect(expressionSyntax("%observations.coded('t-category').latest()").literalArguments('coded')).toEqual([
      't-category',
    ]);
  });
});
