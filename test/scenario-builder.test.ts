import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { buildScenario, scenarioSourceSchema, shorthandsSchema, type ScenarioPolicy } from '../scripts/scenario-builder.js';

/** The scenario builder: sources and shorthands are validated, and shorthands come only from the declaration. */

const shorthands = shorthandsSchema.parse({
  systems: { icd10: 'http://hl7.org/fhir/sid/icd-10-cm', loinc: 'http://loinc.org', cpt: 'http://www.ama-assn.org/go/cpt' },
  payor: 'Example Plan',
  questionnaire: { url: 'http://localhost:3000/fhir/Questionnaire/example', version: '2.0.0' },
  observations: { weight: { code: 'loinc:29463-7', value: 'quantity' } },
});
const policy: ScenarioPolicy = { serviceId: 'example-order-sign', templates: { patient: 'Patient/{{context.patientId}}', labs: 'Observation?patient={{context.patientId}}' }, shorthands };

describe('scenario sources', () => {
  test('an unquoted comma in a flow mapping (a stray key) is an error, not a silently shorter text', () => {
    const source = parse("scenarios:\n  - { name: a, description: d, order: { text: MRI, lumbar }, expect: { outcome: covered } }\n");
    const parsed = scenarioSourceSchema.safeParse(source);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.join('.'))).toContain('scenarios.0.order');
  });

  test('a scenario name used twice is an error', () => {
    const s = { description: 'd', expect: { outcome: 'covered' } };
    expect(scenarioSourceSchema.safeParse({ scenarios: [{ name: 'a', ...s }, { name: 'a', ...s }] }).success).toBe(false);
  });

  test("a declared observation shorthand builds its Observation; the policy's payor, service and Questionnaire are used", () => {
    const source = scenarioSourceSchema.parse({
      scenarios: [{ name: 'a', description: 'd', order: { cpt: '72148' }, record: [{ weight: { value: '70 kg', date: '2026-11-01' } }], attest: {}, expect: { outcome: 'covered' } }],
    });
    const built = buildScenario(policy, 'file', source.defaults, source.scenarios[0]!);
    expect(built.fixture.service).toBe('example-order-sign');
    const labs = built.fixture.request['prefetch']['labs'];
    expect(labs.entry[0].resource).toMatchObject({ resourceType: 'Observation', code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] }, valueQuantity: { value: 70, code: 'kg' } });
  });

  test('an undeclared shorthand or code system is an error naming what is declared', () => {
    const source = scenarioSourceSchema.parse({ scenarios: [{ name: 'a', description: 'd', record: [{ psa: { value: '4 ng/mL' } }], expect: { outcome: 'covered' } }] });
    expect(() => buildScenario(policy, 'file', source.defaults, source.scenarios[0]!)).toThrow(/unknown record entry "psa".*weight/);
    const sct = scenarioSourceSchema.parse({ scenarios: [{ name: 'a', description: 'd', order: { codes: ['sct:1'] }, expect: { outcome: 'covered' } }] });
    expect(() => buildScenario(policy, 'file', sct.defaults, sct.scenarios[0]!)).toThrow(/declared system: icd10, loinc, cpt/);
  });
});
