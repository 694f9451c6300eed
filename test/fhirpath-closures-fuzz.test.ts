import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse } from 'yaml';
import { expect, test } from 'vitest';
import { differential } from './support/closure-differential.js';
import { policyScenarios, runScenario, scenarioServices, type ScenarioFixture } from './support/scenarios.js';

/**
 * The closure compiler against fhirpath.js on generated records: scenario records whose Observations, Conditions,
 * Procedures and Coverages get other codes (from the policy's own lists), dates (partial, with time and zone,
 * invalid, on the look-back boundaries, month ends), values (other units, strings, concepts), statuses, primitive
 * extensions, components, duplicates and missing ids. Every evaluation of every compiled expression must give
 * what fhirpath.js gives, or decline.
 */

type Json = Record<string, unknown>;

const service = scenarioServices().find((s) => s.definition.id === 'cryoablation-order-sign');
if (!service) throw new Error('the cryoablation service is not loaded');
const diff = differential(service.policy);
const scenarios = policyScenarios(service.folder);

interface ListFile {
  lists: Record<
    string,
    { codes?: { system: string; code: string }[]; prefixes?: { system: string; prefix: string }[] }
  >;
}
const lists = (parse(readFileSync(join(service.folder, 'code-lists.yaml'), 'utf8')) as ListFile).lists;
const codings = Object.values(lists).flatMap((l) => [
  ...(l.codes ?? []),
  ...(l.prefixes ?? []).map((p) => ({ system: p.system, code: `${p.prefix}1` })),
]);

function shifted(day: string, days: number, months = 0): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + months);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

const dateFor = (evaluationDate: string): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom(
      shifted(evaluationDate, 0, -6),
      shifted(evaluationDate, -1, -6),
      shifted(evaluationDate, 1, -6),
      shifted(evaluationDate, 0, -12),
      shifted(evaluationDate, -1, -12),
      shifted(evaluationDate, 0),
      shifted(evaluationDate, -30),
      shifted(evaluationDate, 30),
      '2024-02-29',
      '2023-08-31',
      '2024-03-31',
      evaluationDate.slice(0, 7),
      evaluationDate.slice(0, 4),
      `${shifted(evaluationDate, -20)}T23:30:00-05:00`,
      `${shifted(evaluationDate, -20)}T01:00:00Z`,
      '2024-02-30',
      'not a date',
    ),
    fc.integer({ min: -800, max: 60 }).map((d) => shifted(evaluationDate, d)),
  );

const quantity = fc.record({
  value: fc.oneof(
    fc.constantFrom(0.3, 0.30000000000000004, 4, 4.0000000001, 40, 60, 10, 2, 48),
    fc.double({ min: 0, max: 200, noNaN: true }),
  ),
  unit: fc.constantFrom('cm', 'mm', 'ng/mL', 'ug/L', 'mL/min/1.73m2', 'mL/min/{1.73_m2}', 'furlong', '%'),
  system: fc.constant('http://unitsofmeasure.org'),
});
const concept = fc.constantFrom(...codings).map((c) => ({ coding: [c] }));

const DATE_FIELDS = [
  'effectiveDateTime',
  'onsetDateTime',
  'abatementDateTime',
  'performedDateTime',
  'recordedDate',
  'issued',
];
const STATUSES = ['final', 'amended', 'preliminary', 'active', 'completed', 'entered-in-error', 'unknown'];

type Mutation = (r: Json) => void;
const mutation = (evaluationDate: string): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.tuple(fc.constantFrom(...DATE_FIELDS), dateFor(evaluationDate)).map(([f, v]) => (r: Json) => {
      r[f] = v;
    }),
    dateFor(evaluationDate).map((v) => (r: Json) => {
      r['period'] = { start: v };
      r['effectivePeriod'] = { end: v };
    }),
    quantity.map((q) => (r: Json) => {
      delete r['valueCodeableConcept'];
      r['valueQuantity'] = q;
    }),
    fc.oneof(concept, fc.constant('4 cm')).map((v) => (r: Json) => {
      delete r['valueQuantity'];
      if (typeof v === 'string') r['valueString'] = v;
      else r['valueCodeableConcept'] = v;
    }),
    fc.tuple(concept, quantity).map(([c, q]) => (r: Json) => {
      r['component'] = [
        { code: c, valueQuantity: q },
        { code: { coding: [{ system: 'http://loinc.org', code: '33728-7' }] }, valueQuantity: q },
      ];
    }),
    concept.map((c) => (r: Json) => {
      r['code'] = c;
    }),
    fc.constantFrom(...STATUSES).map((s) => (r: Json) => {
      r['status'] = s;
    }),
    fc.constantFrom('active', 'inactive', 'resolved', 'remission').map((s) => (r: Json) => {
      r['clinicalStatus'] = {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: s }],
      };
    }),
    fc
      .constantFrom('_effectiveDateTime', '_status', '_onsetDateTime', '_abatementDateTime', '_valueQuantity')
      .map((f) => (r: Json) => {
        r[f] = { extension: [{ url: 'http://example.org/x', valueString: 'x' }] };
      }),
    fc.constant((r: Json) => {
      r['abatementAge'] = { value: 60, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' };
    }),
    fc.constantFrom('Aspirus Health Plan', 'ASPIRUS HEALTH PLAN, Inc.', 'Other Plan', '').map((d) => (r: Json) => {
      r['payor'] = [{ display: d }];
    }),
    fc.constant((r: Json) => {
      delete r['id'];
    }),
  );

interface Bundle {
  entry?: { resource?: Json }[];
}

function resourcesOf(request: Json): Json[] {
  const prefetch = (request['prefetch'] ?? {}) as Record<string, unknown>;
  return Object.values(prefetch).flatMap((v): Json[] => {
    if (typeof v !== 'object' || v === null) return [];
    const b = v as Json & Bundle;
    return b['resourceType'] === 'Bundle' ? (b.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])) : [b];
  });
}

const mutatedScenario = fc
  .constantFrom(...scenarios.map((s) => s.fixture))
  .chain((fixture) =>
    fc.record({
      fixture: fc.constant(fixture),
      mutations: fc.array(fc.tuple(fc.nat(), mutation(fixture.evaluationDate)), { minLength: 1, maxLength: 8 }),
      duplicate: fc.option(fc.nat(), { nil: undefined }),
    }),
  )
  .map(({ fixture, mutations, duplicate }): ScenarioFixture => {
    const copy = structuredClone(fixture);
    const resources = resourcesOf(copy.request as Json).filter((r) => r['resourceType'] !== 'QuestionnaireResponse');
    if (resources.length === 0) return copy;
    for (const [i, m] of mutations) {
      const r = resources[i % resources.length];
      if (r && r['resourceType'] !== 'Patient') m(r);
    }
    if (duplicate !== undefined) {
      const prefetch = (copy.request as Json)['prefetch'] as Record<string, Bundle | null>;
      const bundle = Object.values(prefetch).find((b) => (b?.entry?.length ?? 0) > 0);
      const entry = bundle?.entry?.[duplicate % (bundle.entry?.length ?? 1)];
      if (bundle?.entry && entry) bundle.entry.push(structuredClone(entry));
    }
    return copy;
  });

test('on generated records, closures and fhirpath.js agree on every evaluation', async () => {
  await fc.assert(
    fc.asyncProperty(mutatedScenario, async (fixture) => {
      const divergences = diff.divergences.length;
      const errors = diff.closureErrors.length;
      try {
        await runScenario(service, fixture);
      } catch {
        // a mutated request the pipeline refuses (e.g. a 422) evaluates nothing
      }
      expect(diff.divergences.slice(divergences)).toEqual([]);
      expect(diff.closureErrors.slice(errors)).toEqual([]);
    }),
    { numRuns: Number(process.env['CLOSURE_FUZZ_RUNS'] ?? 120) },
  );
  const compared = [...diff.compared.values()].reduce((a, b) => a + b, 0);
  const declined = [...diff.declined.values()].reduce((a, b) => a + b, 0);
  // the property is about compared evaluations: most must not be declined
  expect(compared).toBeGreaterThan(declined);
});
