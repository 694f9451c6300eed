import { describe, expect, test } from 'vitest';
import { evaluationFromDecision, evaluationFromTrace } from '../../src/dtr/evaluation.js';
import { INFORMATION_ORIGIN } from '../../src/dtr/information-origin.js';
import { parsePackageInput, type PackageRequest } from '../../src/dtr/package-input.js';
import { isEnabled, prefilledResponse, QR_CONTEXT } from '../../src/dtr/prefill.js';
import {
  questionnairePackage,
  type EvaluationQuery,
  type PackageDeps,
  type StoredEvaluation,
} from '../../src/dtr/questionnaire-package.js';
import type { StoredAssertion } from '../../src/store/index.js';
import { checkOutputParameters, checkPackageBundle, checkQuestionnaireResponse } from '../support/dtr-profiles.js';
import { coverage, inputParameters, order, Q_URL, Q_VERSION, questionnaire, stored, trace } from './fixtures.js';

const NOW = new Date('2026-12-01T15:00:00Z');

function deps(
  records: StoredEvaluation[] = [stored],
  extra: Partial<PackageDeps> = {},
): PackageDeps & { queries: EvaluationQuery[] } {
  const queries: EvaluationQuery[] = [];
  return {
    queries,
    questionnaires: {
      find: (url, version) =>
        url === Q_URL && (version === undefined || version === Q_VERSION) ? questionnaire : undefined,
    },
    findEvaluation: async (q) => {
      queries.push(q);
      return 'assertionId' in q
        ? records.find((r) => r.id === q.assertionId)
        : records.find((r) => r.orderRef === q.orderRef && r.coverageRef === q.coverageRef);
    },
    indicationLinkId: 'indication',
    now: () => NOW,
    ...extra,
  };
}

function request(body: unknown): PackageRequest {
  const parsed = parsePackageInput(body);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.failure));
  return parsed.value;
}

async function run(body: unknown, d: PackageDeps = deps()) {
  const result = await questionnairePackage(request(body), d);
  if (!result.ok) throw new Error(JSON.stringify(result.failure));
  return result.value.output;
}

function responseOf(output: fhir4.Parameters, i = 0): fhir4.QuestionnaireResponse {
  const bundle = output.parameter?.filter((p) => p.name === 'PackageBundle')[i]?.resource as fhir4.Bundle;
  return bundle.entry?.find((e) => e.resource?.resourceType === 'QuestionnaireResponse')
    ?.resource as fhir4.QuestionnaireResponse;
}

function answers(qr: fhir4.QuestionnaireResponse): Record<string, fhir4.QuestionnaireResponseItemAnswer> {
  const out: Record<string, fhir4.QuestionnaireResponseItemAnswer> = {};
  const visit = (items: fhir4.QuestionnaireResponseItem[] | undefined) =>
    items?.forEach((i) => {
      if (i.answer?.[0]) out[i.linkId] = i.answer[0];
      visit(i.item);
    });
  visit(qr.item);
  return out;
}

describe('the stored evaluation', () => {
  test('the adapter keeps record-decided criteria and the section indications', () => {
    const e = evaluationFromDecision(trace);
    expect(e.criteria['A.1']).toEqual({
      state: 'met',
      byRecord: true,
      evidence: [
        { reference: 'Observation/o-1', display: 'Size 3 cm on 2026-10-02' },
        { display: 'no contraindication recorded' },
      ],
    });
    expect(e.criteria['A.2']).toMatchObject({ state: 'unknown', byRecord: false });
    expect(e.criteria['A']).toMatchObject({ byRecord: false });
    expect(e.indications['A']).toMatchObject({ state: 'met', byRecord: true });
    expect(e.indications['B']).toMatchObject({ state: 'not-met' });
  });

  test('a criterion seen with two states pre-fills nothing', () => {
    const twice = {
      ...trace,
      general: [
        ...trace.general,
        { id: 'GEN.1', state: 'not-met' as const, decidedBy: 'record', evidence: [], children: [] },
      ],
    };
    expect(evaluationFromDecision(twice).criteria['GEN.1']).toMatchObject({ state: 'unknown', byRecord: false });
  });

  test('the stored JSON round-trips; a trace of another shape gives none', () => {
    expect(evaluationFromTrace(JSON.parse(JSON.stringify(trace)))).toEqual(evaluationFromDecision(trace));
    expect(evaluationFromTrace({ decisions: [] })).toBeUndefined();
    expect(evaluationFromTrace(null)).toBeUndefined();
  });

  test("the store's StoredAssertion is a StoredEvaluation", () => {
    const fits = (a: StoredAssertion): StoredEvaluation => a;
    expect(typeof fits).toBe('function');
  });
});

describe('the pre-filled response', () => {
  test('by context: exactly the record-decided answers, marked auto, with their evidence', async () => {
    const d = deps();
    const output = await run(inputParameters({ context: 'assert-1', order: true }), d);
    expect(checkOutputParameters(output)).toEqual([]);
    expect(d.queries).toEqual([{ assertionId: 'assert-1' }]);
    const qr = responseOf(output);
    const a = answers(qr);
    expect(Object.keys(a).sort()).toEqual(['A.1', 'A.3', 'GEN.1', 'indication']);
    expect(a['A.1']?.valueBoolean).toBe(true);
    expect(a['A.3']?.valueBoolean).toBe(false);
    expect(a['indication']?.valueCoding?.code).toBe('A');
    for (const answer of Object.values(a)) {
      expect(answer.extension?.[0]).toEqual({
        url: INFORMATION_ORIGIN,
        extension: [{ url: 'source', valueCode: 'auto' }],
      });
    }
    expect(a['A.1']?.extension?.slice(1)).toEqual([
      {
        url: 'http://hl7.org/fhir/StructureDefinition/derivation-reference',
        extension: [
          { url: 'reference', valueReference: { reference: 'Observation/o-1', display: 'Size 3 cm on 2026-10-02' } },
        ],
      },
      {
        url: 'http://hl7.org/fhir/StructureDefinition/derivation-reference',
        extension: [{ url: 'reference', valueReference: { display: 'no contraindication recorded' } }],
      },
    ]);
    expect(qr).toMatchObject({
      status: 'in-progress',
      questionnaire: `${Q_URL}|${Q_VERSION}`,
      subject: { reference: 'Patient/pat-1' },
      authored: NOW.toISOString(),
    });
    expect(qr.basedOn).toBeUndefined();
    expect(qr.extension?.filter((e) => e.url === QR_CONTEXT).map((e) => e.valueReference?.reference)).toEqual([
      'Coverage/cov-1',
      'ServiceRequest/sr-1',
    ]);
    expect(qr.extension?.find((e) => e.url.endsWith('intendedUse'))?.valueCodeableConcept?.coding?.[0]?.code).toBe(
      'withpa',
    );
    // The attestation stays open for the clinician, A.2 too.
    expect(qr.item?.map((i) => i.linkId)).toEqual(['indication', 'GEN.1', 'A', 'attestation']);
    expect(qr.item?.find((i) => i.linkId === 'attestation')?.answer).toBeUndefined();
  });

  test("by the order's reference: its latest stored evaluation", async () => {
    const d = deps();
    const output = await run(inputParameters({ order: true }), d);
    expect(d.queries).toEqual([{ orderRef: 'ServiceRequest/sr-1', coverageRef: 'Coverage/cov-1' }]);
    expect(Object.keys(answers(responseOf(output))).sort()).toEqual(['A.1', 'A.3', 'GEN.1', 'indication']);
    expect(checkOutputParameters(output)).toEqual([]);
  });

  test('with no stored evaluation: the Questionnaire with an empty in-progress response', async () => {
    const output = await run(inputParameters({ questionnaire: `${Q_URL}|${Q_VERSION}`, order: true }), deps([]));
    expect(checkOutputParameters(output)).toEqual([]);
    const qr = responseOf(output);
    expect(answers(qr)).toEqual({});
    expect(qr.item?.map((i) => i.linkId)).toEqual(['indication', 'GEN.1', 'attestation']);
    const bundle = output.parameter?.[0]?.resource as fhir4.Bundle;
    expect(bundle.entry?.[0]?.resource).toBe(questionnaire);
  });

  test('an indication the record cannot pick leaves its section closed: no answers inside a disabled group', async () => {
    const both = {
      ...trace,
      sections: trace.sections.map((s) => ({ ...s, indication: { ...s.indication, state: 'met' as const } })),
    };
    const output = await run(inputParameters({ context: 'assert-1' }), deps([{ ...stored, trace: both }]));
    expect(Object.keys(answers(responseOf(output)))).toEqual(['GEN.1']);
  });

  test("only the assertion's own Questionnaire is pre-filled; a version asked for explicitly is honoured", async () => {
    const other: fhir4.Questionnaire = {
      ...questionnaire,
      url: 'https://payer.example/fhir/Questionnaire/other',
      version: '1',
    };
    const d = deps([stored], {
      questionnaires: { find: (url) => (url === Q_URL ? questionnaire : url === other.url ? other : undefined) },
    });
    const output = await run(inputParameters({ context: 'assert-1', questionnaire: `${other.url}|1` }), d);
    const bundles = output.parameter?.filter((p) => p.name === 'PackageBundle') ?? [];
    expect(bundles).toHaveLength(2);
    expect(answers(responseOf(output, 0))).toEqual({});
    expect(Object.keys(answers(responseOf(output, 1)))).toContain('A.1');
    expect(checkOutputParameters(output)).toEqual([]);
  });

  test('a requested Questionnaire not found beside one found: a warning in operationOutcome', async () => {
    const output = await run(
      inputParameters({ context: 'assert-1', questionnaire: 'https://payer.example/fhir/Questionnaire/nope' }),
    );
    const oo = output.parameter?.find((p) => p.name === 'operationOutcome')?.resource as fhir4.OperationOutcome;
    expect(oo.issue[0]).toMatchObject({ severity: 'warning', code: 'not-found' });
    expect(checkOutputParameters(output)).toEqual([]);
  });

  test('a ValueSet the Questionnaire references follows it; a missing one is a warning', async () => {
    const withVs: fhir4.Questionnaire = {
      ...questionnaire,
      item: [
        ...(questionnaire.item ?? []),
        { linkId: 'side', type: 'choice', answerValueSet: 'http://example.org/vs/side|1' },
      ],
    };
    const vs: fhir4.ValueSet = {
      resourceType: 'ValueSet',
      url: 'http://example.org/vs/side',
      version: '1',
      status: 'active',
    };
    const d = deps([stored], {
      questionnaires: { find: () => withVs, valueSet: (c) => (c === 'http://example.org/vs/side|1' ? vs : undefined) },
    });
    const output = await run(inputParameters({ context: 'assert-1' }), d);
    const bundle = output.parameter?.[0]?.resource as fhir4.Bundle;
    expect(bundle.entry?.map((e) => e.resource?.resourceType)).toEqual([
      'Questionnaire',
      'QuestionnaireResponse',
      'ValueSet',
    ]);
    const d2 = deps([stored], { questionnaires: { find: () => withVs } });
    const out2 = await run(inputParameters({ context: 'assert-1' }), d2);
    expect(out2.parameter?.find((p) => p.name === 'operationOutcome')).toBeDefined();
  });
});

describe('failures are values with a status and a way out', () => {
  const fails = async (body: unknown, d: PackageDeps = deps()) => {
    const parsed = parsePackageInput(body);
    if (!parsed.ok) return parsed.failure;
    const result = await questionnairePackage(parsed.value, d);
    if (result.ok) throw new Error('expected a failure');
    return result.failure;
  };

  test.each([
    ['not Parameters', { resourceType: 'Bundle' }, 400, /Parameters resource/],
    ['no parameter', { resourceType: 'Parameters', parameter: [] }, 400, /Malformed/],
    ['no coverage', inputParameters({ coverage: false, context: 'assert-1' }), 400, /coverage/],
    [
      'coverage as a value',
      {
        resourceType: 'Parameters',
        parameter: [
          { name: 'coverage', valueString: 'Coverage/1' },
          { name: 'context', valueString: 'x' },
        ],
      },
      400,
      /Coverage resource/,
    ],
    [
      'two values in one parameter',
      { resourceType: 'Parameters', parameter: [{ name: 'coverage', resource: coverage, valueString: 'x' }] },
      400,
      /inv-1/,
    ],
    ['none of order, questionnaire, context', inputParameters(), 400, /dtr-1/],
    [
      'questionnaire as a string',
      {
        resourceType: 'Parameters',
        parameter: [
          { name: 'coverage', resource: coverage },
          { name: 'questionnaire', valueString: Q_URL },
        ],
      },
      400,
      /valueCanonical/,
    ],
    [
      'order of the wrong type',
      {
        resourceType: 'Parameters',
        parameter: [
          { name: 'coverage', resource: coverage },
          { name: 'order', resource: { resourceType: 'Patient' } },
        ],
      },
      400,
      /draft order/,
    ],
    [
      'two contexts',
      {
        resourceType: 'Parameters',
        parameter: [
          { name: 'coverage', resource: coverage },
          { name: 'context', valueString: 'a' },
          { name: 'context', valueString: 'b' },
        ],
      },
      400,
      /at most one/,
    ],
    [
      'changedsince without a zone',
      {
        resourceType: 'Parameters',
        parameter: [
          { name: 'coverage', resource: coverage },
          { name: 'context', valueString: 'a' },
          { name: 'changedsince', valueInstant: '2026-12-01T10:00:00' },
        ],
      },
      400,
      /time zone/,
    ],
    ['unknown assertion', inputParameters({ context: 'nope' }), 404, /No coverage assertion "nope"/],
    [
      'unknown canonical',
      inputParameters({ questionnaire: 'https://payer.example/fhir/Questionnaire/nope' }),
      404,
      /not known/,
    ],
    ['unknown version', inputParameters({ questionnaire: `${Q_URL}|0.9` }), 404, /not known/],
    ['an order nobody signed', inputParameters({ order: true }), 404, /Sign the order first/],
  ])('%s', async (_name, body, status, message) => {
    const d = _name === 'an order nobody signed' ? deps([]) : deps();
    const f = await fails(body, d);
    expect(f.status).toBe(status);
    expect(f.outcome.resourceType).toBe('OperationOutcome');
    expect(f.outcome.issue[0]?.diagnostics).toMatch(message);
  });

  test("the context of another member's coverage or another order: 422", async () => {
    const otherCoverage = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'coverage', resource: { ...coverage, id: 'cov-2' } },
        { name: 'context', valueString: 'assert-1' },
      ],
    };
    expect((await fails(otherCoverage)).status).toBe(422);
    const otherOrder = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'coverage', resource: coverage },
        { name: 'order', resource: { ...order, id: 'sr-9' } },
        { name: 'context', valueString: 'assert-1' },
      ],
    };
    expect((await fails(otherOrder)).status).toBe(422);
  });

  test('no member: 422', async () => {
    const body = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'coverage', resource: { resourceType: 'Coverage', status: 'active' } },
        { name: 'questionnaire', valueCanonical: Q_URL },
      ],
    };
    expect((await fails(body, deps([]))).status).toBe(422);
  });
});

describe('enableWhen as the renderer reads it', () => {
  const item = (
    enableWhen: fhir4.QuestionnaireItemEnableWhen[],
    behavior?: 'any' | 'all',
  ): fhir4.QuestionnaireItem => ({
    linkId: 'x',
    type: 'boolean',
    enableWhen,
    ...(behavior ? { enableBehavior: behavior } : {}),
  });
  const yes = new Map([['q', { valueBoolean: true }]]);
  test('=, !=, exists, any/all; an operator it cannot judge counts as disabled', () => {
    expect(isEnabled(item([{ question: 'q', operator: '=', answerBoolean: true }]), yes)).toBe(true);
    expect(isEnabled(item([{ question: 'q', operator: '!=', answerBoolean: true }]), yes)).toBe(false);
    expect(isEnabled(item([{ question: 'q', operator: 'exists', answerBoolean: true }]), yes)).toBe(true);
    expect(isEnabled(item([{ question: 'r', operator: 'exists', answerBoolean: false }]), yes)).toBe(true);
    expect(
      isEnabled(
        item(
          [
            { question: 'q', operator: '=', answerBoolean: true },
            { question: 'r', operator: '=', answerBoolean: true },
          ],
          'any',
        ),
        yes,
      ),
    ).toBe(true);
    expect(
      isEnabled(
        item([
          { question: 'q', operator: '=', answerBoolean: true },
          { question: 'r', operator: '=', answerBoolean: true },
        ]),
        yes,
      ),
    ).toBe(false);
    expect(isEnabled(item([{ question: 'q', operator: '>', answerInteger: 1 }]), yes)).toBe(false);
  });
});

describe('the profile checker', () => {
  const good = () =>
    prefilledResponse({
      questionnaire,
      evaluation: evaluationFromDecision(trace),
      subject: { reference: 'Patient/pat-1' },
      coverages: [{ reference: 'Coverage/cov-1' }],
      orders: [{ reference: 'ServiceRequest/sr-1' }],
      intendedUse: ['withpa'],
      indicationLinkId: 'indication',
      authored: NOW.toISOString(),
    });
  const q = questionnaire as unknown as Record<string, unknown>;
  const check = (qr: unknown) => checkQuestionnaireResponse(qr as Record<string, unknown>, q);

  test('passes the builder output', () => expect(check(good())).toEqual([]));

  test.each<[string, (qr: fhir4.QuestionnaireResponse) => unknown, RegExp]>([
    ['unversioned questionnaire', (qr) => ({ ...qr, questionnaire: Q_URL }), /with its version/],
    ['no subject', (qr) => ({ ...qr, subject: undefined }), /subject/],
    ['basedOn', (qr) => ({ ...qr, basedOn: [{ reference: 'ServiceRequest/sr-1' }] }), /basedOn 0..0/],
    [
      'no order context',
      (qr) => ({
        ...qr,
        extension: qr.extension?.filter((e) => e.valueReference?.reference !== 'ServiceRequest/sr-1'),
      }),
      /qr-context/,
    ],
    [
      'no intendedUse',
      (qr) => ({ ...qr, extension: qr.extension?.filter((e) => !e.url.endsWith('intendedUse')) }),
      /intendedUse/,
    ],
    ['no items', (qr) => ({ ...qr, item: [] }), /item 1..\*/],
    [
      'answer without origin',
      (qr) => ({
        ...qr,
        item: qr.item?.map((i) => (i.linkId === 'GEN.1' ? { ...i, answer: [{ valueBoolean: true }] } : i)),
      }),
      /information-origin 1..1/,
    ],
    [
      'override without author',
      (qr) => ({
        ...qr,
        item: qr.item?.map((i) =>
          i.linkId === 'GEN.1'
            ? {
                ...i,
                answer: [
                  {
                    valueBoolean: false,
                    extension: [{ url: INFORMATION_ORIGIN, extension: [{ url: 'source', valueCode: 'override' }] }],
                  },
                ],
              }
            : i,
        ),
      }),
      /dtrx-1/,
    ],
    ['unknown linkId', (qr) => ({ ...qr, item: [...(qr.item ?? []), { linkId: 'zzz' }] }), /not in the Questionnaire/],
    ['wrong nesting', (qr) => ({ ...qr, item: [...(qr.item ?? []), { linkId: 'A.2' }] }), /nested differently/],
    [
      'wrong value type',
      (qr) => ({
        ...qr,
        item: qr.item?.map((i) =>
          i.linkId === 'GEN.1'
            ? { ...i, answer: [{ ...i.answer![0], valueBoolean: undefined, valueString: 'yes' }] }
            : i,
        ),
      }),
      /does not fit/,
    ],
  ])('catches %s', (_name, mutate, message) => {
    expect(check(mutate(good())).join('\n')).toMatch(message);
  });

  test('catches bundle and parameters violations', () => {
    const qr = good();
    expect(
      checkPackageBundle({
        resourceType: 'Bundle',
        type: 'collection',
        entry: [{ resource: qr }, { resource: questionnaire }],
      }).join('\n'),
    ).toMatch(/dtrb-1/);
    expect(
      checkPackageBundle({ resourceType: 'Bundle', type: 'searchset', entry: [{ resource: questionnaire }] }).join(
        '\n',
      ),
    ).toMatch(/collection/);
    expect(
      checkPackageBundle({
        resourceType: 'Bundle',
        type: 'collection',
        entry: [{ resource: questionnaire }, { resource: { resourceType: 'Patient' } }],
      }).join('\n'),
    ).toMatch(/closed slicing/);
    expect(
      checkOutputParameters({
        resourceType: 'Parameters',
        parameter: [{ name: 'operationOutcome', resource: { resourceType: 'OperationOutcome', issue: [] } }],
      }).join('\n'),
    ).toMatch(/PackageBundle: 1/);
  });
});
