import type { DecisionTrace, TraceNode } from '../../src/dtr/evaluation.js';
import type { StoredEvaluation } from '../../src/dtr/questionnaire-package.js';

/**
 * A documentation Questionnaire of the generator's shape (src/rules/questionnaire.ts): an indication choice, a
 * group per section enabled by it (a one-criterion section asked as a single item), a closing attestation.
 * Invented ids: the DTR modules know no policy.
 */

export const Q_URL = 'https://payer.example/fhir/Questionnaire/example-necessity';
export const Q_VERSION = '2026.1';
export const SYSTEM = `${Q_URL}/indication`;

export const questionnaire: fhir4.Questionnaire = {
  resourceType: 'Questionnaire',
  id: 'example-necessity',
  url: Q_URL,
  version: Q_VERSION,
  name: 'ExampleNecessity',
  status: 'active',
  subjectType: ['Patient'],
  item: [
    {
      linkId: 'indication',
      type: 'choice',
      text: 'Which indication applies?',
      required: true,
      answerOption: [
        { valueCoding: { system: SYSTEM, code: 'A', display: 'Section A' } },
        { valueCoding: { system: SYSTEM, code: 'B', display: 'Section B' } },
        { valueCoding: { system: SYSTEM, code: 'other', display: 'Other' } },
      ],
    },
    { linkId: 'GEN.1', type: 'boolean', text: 'Is the general rule met?' },
    {
      linkId: 'A',
      type: 'group',
      text: 'A. Section A',
      enableWhen: [
        { question: 'indication', operator: '=', answerCoding: { system: SYSTEM, code: 'A', display: 'Section A' } },
      ],
      item: [
        { linkId: 'A.1', type: 'boolean', text: 'Is A.1 met?', prefix: 'A.1' },
        { linkId: 'A.2', type: 'boolean', text: 'Is A.2 met?', prefix: 'A.2' },
        { linkId: 'A.3', type: 'boolean', text: 'Is A.3 met?', prefix: 'A.3' },
      ],
    },
    {
      linkId: 'B',
      type: 'boolean',
      text: 'Is B met?',
      enableWhen: [
        { question: 'indication', operator: '=', answerCoding: { system: SYSTEM, code: 'B', display: 'Section B' } },
      ],
    },
    { linkId: 'attestation', type: 'boolean', text: 'I attest the answers are true.', required: true },
  ],
};

const leaf = (
  id: string,
  state: TraceNode['state'],
  decidedBy: string,
  evidence: TraceNode['evidence'] = [],
): TraceNode => ({ id, state, decidedBy, evidence, children: [] });

/** Section A indicated by the record; A.1 met and A.3 not met by the record; A.2 unknown; B not indicated. */
export const trace: DecisionTrace & Record<string, unknown> = {
  outcome: 'documentation-needed',
  general: [leaf('GEN.1', 'met', 'record', [{ reference: 'Coverage/cov-1', summary: 'Coverage status active' }])],
  definitions: [],
  exclusions: [leaf('EX.1', 'not-met', 'record')],
  sections: [
    {
      id: 'A',
      indication: leaf('A.indication', 'met', 'record', [
        { reference: 'Condition/c-1', summary: 'Condition X (C1) on 2026-10-01' },
      ]),
      result: {
        id: 'A',
        state: 'unknown',
        decidedBy: 'children',
        evidence: [],
        children: [
          leaf('A.1', 'met', 'record', [
            { reference: 'Observation/o-1', summary: 'Size 3 cm on 2026-10-02' },
            { summary: 'no contraindication recorded' },
          ]),
          leaf('A.2', 'unknown', 'nothing'),
          leaf('A.3', 'not-met', 'record', [{ reference: 'Observation/o-2', summary: 'Score 9 on 2026-10-03' }]),
        ],
      },
    },
    { id: 'B', indication: leaf('B.indication', 'not-met', 'record'), result: leaf('B', 'unknown', 'nothing') },
  ],
};

export const coverage: fhir4.Coverage = {
  resourceType: 'Coverage',
  id: 'cov-1',
  status: 'active',
  beneficiary: { reference: 'Patient/pat-1' },
  payor: [{ display: 'Example Plan' }],
};

export const order = {
  resourceType: 'ServiceRequest' as const,
  id: 'sr-1',
  status: 'draft',
  intent: 'order',
  subject: { reference: 'Patient/pat-1' },
  code: { coding: [{ system: 'http://example.org/codes', code: 'X1' }] },
};

export const stored: StoredEvaluation = {
  id: 'assert-1',
  orderRef: 'ServiceRequest/sr-1',
  coverageRef: 'Coverage/cov-1',
  patientRef: 'Patient/pat-1',
  questionnaireCanonical: `${Q_URL}|${Q_VERSION}`,
  coverageInformation: {
    url: 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information',
    extension: [
      { url: 'doc-needed', valueCode: 'clinical' },
      { url: 'doc-purpose', valueCode: 'withpa' },
    ],
  },
  trace,
};

export function inputParameters(
  parts: { context?: string; questionnaire?: string; order?: boolean; coverage?: boolean } = {},
): fhir4.Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      ...(parts.coverage === false ? [] : [{ name: 'coverage', resource: coverage }]),
      ...(parts.order ? [{ name: 'order', resource: order as unknown as fhir4.Resource }] : []),
      ...(parts.questionnaire ? [{ name: 'questionnaire', valueCanonical: parts.questionnaire }] : []),
      ...(parts.context ? [{ name: 'context', valueString: parts.context }] : []),
    ],
  };
}
