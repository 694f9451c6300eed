import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import {
  buildScenario,
  scenarioSourceSchema,
  shorthandsSchema,
  type ScenarioPolicy,
} from '../scripts/scenario-builder.js';

/** The scenario builder: sources and shorthands are validated, and shorthands come only from the declaration. */

const shorthands = shorthandsSchema.parse({
  systems: {
    icd10: 'http://hl7.org/fhir/sid/icd-10-cm',
    loinc: 'http://loinc.org',
    cpt: 'http://www.ama-assn.org/go/cpt',
  },
  payor: 'Example Plan',
  questionnaire: { url: 'http://localhost:3000/fhir/Questionnaire/example', version: '2.0.0' },
  observations: { weight: { code: 'loinc:29463-7', value: 'quantity' } },
});
const policy: ScenarioPolicy = {
  serviceId: 'example-order-sign',
  templates: { patient: 'Patient/{{context.patientId}}', labs: 'Observation?patient={{context.patientId}}' },
  shorthands,
};

describe('scenario sources', () => {
  test('an unquoted comma in a flow mapping (a stray key) is an error, not a silently shorter text', () => {
    const source = parse(
      'scenarios:\n  - { name: a, description: d, order: { text: MRI, lumbar }, expect: { outcome: covered } }\n',
    );
    const parsed = scenarioSourceSchema.safeParse(source);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.join('.'))).toContain('scenarios.0.order');
  });

  test('a scenario name used twice is an error', () => {
    const s = { description: 'd', expect: { outcome: 'covered' } };
    expect(
      scenarioSourceSchema.safeParse({
        scenarios: [
          { name: 'a', ...s },
          { name: 'a', ...s },
        ],
      }).success,
    ).toBe(false);
  });

  test("a declared observation shorthand builds its Observation; the policy's payor, service and Questionnaire are used", () => {
    const source = scenarioSourceSchema.parse({
      scenarios: [
        {
          name: 'a',
          description: 'd',
          order: { cpt: '72148' },
          record: [{ weight: { value: '70 kg', date: '2026-11-01' } }],
          attest: {},
          expect: { outcome: 'covered' },
        },
      ],
    });
    const built = buildScenario(policy, 'file', source.defaults, source.scenarios[0]!);
    expect(built.fixture.service).toBe('example-order-sign');
    const labs = built.fixture.request['prefetch']['labs'];
    expect(labs.entry[0].resource).toMatchObject({
      resourceType: 'Observation',
      code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
      valueQuantity: { value: 70, code: 'kg' },
    });
  });

  test('an undeclared shorthand or code system is an error naming what is declared', () => {
    const source = scenarioSourceSchema.parse({
      scenarios: [
        { name: 'a', description: 'd', record: [{ psa: { value: '4 ng/mL' } }], expect: { outcome: 'covered' } },
      ],
    });
    expect(() => buildScenario(policy, 'file', source.defaults, source.scenarios[0]!)).toThrow(
      /unknown record entry "psa".*weight/,
    );
    const sct = scenarioSourceSchema.parse({
      scenarios: [{ name: 'a', description: 'd', order: { codes: ['sct:1'] }, expect: { outcome: 'covered' } }],
    });
    expect(() => buildScenario(policy, 'file', sct.defaults, sct.scenarios[0]!)).toThrow(
      /declared system: icd10, loinc, cpt/,
    );
  });
});

describe('links between record entries (rulings R1/R2 evidence)', () => {
  const linked = shorthandsSchema.parse({
    systems: { icd10: 'http://hl7.org/fhir/sid/icd-10-cm', loinc: 'http://loinc.org', sct: 'http://snomed.info/sct' },
    payor: 'Example Plan',
    questionnaire: { url: 'http://localhost:3000/fhir/Questionnaire/example', version: '2.0.0' },
    observations: { size: { code: 'loinc:21889-1', value: 'quantity' } },
    links: { bodyStructureCondition: 'http://example.org/related-condition' },
  });
  const templates = {
    patient: 'Patient/{{context.patientId}}',
    all: 'Observation?patient={{context.patientId}}',
    c: 'Condition?patient={{context.patientId}}',
    b: 'BodyStructure?patient={{context.patientId}}',
  };
  const build = (record: unknown[], order: unknown = {}) => {
    const source = scenarioSourceSchema.parse({
      scenarios: [{ name: 'a', description: 'd', order, record, expect: { outcome: 'covered' } }],
    });
    return buildScenario(
      { serviceId: 's', templates, shorthands: linked },
      'file',
      source.defaults,
      source.scenarios[0]!,
    ).fixture.request;
  };

  test('focus, hasMember, stage.assessment and a BodyStructure resolve record ids to typed references; sites are concepts', () => {
    const req = build(
      [
        {
          condition: {
            id: 'k',
            code: 'icd10:C64.2',
            stage: { summary: 'sct:1', assessment: 's1' },
            bodySite: 'sct:64033007',
          },
        },
        { bodyStructure: { id: 't', location: 'sct:64033007', qualifiers: ['sct:7771000'], condition: 'k' } },
        { size: { id: 's1', value: '3 cm', focus: 't', site: ['sct:64033007', 'sct:7771000'] } },
        { observation: { id: 'g', code: 'sct:399537006', value: 'sct:2', focus: 'k', hasMember: ['s1'] } },
      ],
      { bodySite: ['sct:7771000'], orderDetail: ['sct:7771000'] },
    );
    const [size, group] = req['prefetch']['all'].entry.map((e: any) => e.resource);
    expect(size).toMatchObject({
      focus: [{ reference: 'BodyStructure/t' }],
      bodySite: { coding: [{ code: '64033007' }, { code: '7771000' }] },
    });
    expect(group).toMatchObject({
      focus: [{ reference: 'Condition/k' }],
      hasMember: [{ reference: 'Observation/s1' }],
    });
    expect(req['prefetch']['c'].entry[0].resource).toMatchObject({
      stage: [{ summary: { coding: [{ code: '1' }] }, assessment: [{ reference: 'Observation/s1' }] }],
    });
    expect(req['prefetch']['b'].entry[0].resource).toMatchObject({
      resourceType: 'BodyStructure',
      extension: [{ url: 'http://example.org/related-condition', valueReference: { reference: 'Condition/k' } }],
      locationQualifier: [{ coding: [{ code: '7771000' }] }],
    });
    expect(req['context']['draftOrders'].entry[0].resource).toMatchObject({
      bodySite: [{ coding: [{ code: '7771000' }] }],
      orderDetail: [{ coding: [{ code: '7771000' }] }],
    });
  });

  test('a link to an id no record entry has is an error; a link extension the shorthands do not declare too', () => {
    expect(() => build([{ size: { value: '3 cm', focus: 'nobody' } }])).toThrow(
      /reference to "nobody": no record entry has that id/,
    );
    expect(() => build([{ condition: { id: 'm', code: 'icd10:C78.7', primary: 'x' } }])).toThrow(
      /links\.conditionPrimary/,
    );
  });
});
