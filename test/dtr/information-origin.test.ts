import { describe, expect, test } from 'vitest';
import { answerVerdict, classifyAnswers, INFORMATION_ORIGIN, markOrigins } from '../../src/dtr/information-origin.js';

const origin = (source: string, practitioner?: string): fhir4.Extension => ({
  url: INFORMATION_ORIGIN,
  extension: [
    { url: 'source', valueCode: source },
    ...(practitioner
      ? [{ url: 'author', extension: [{ url: 'practitioner', valueReference: { reference: practitioner } }] }]
      : []),
  ],
});

const qr = {
  resourceType: 'QuestionnaireResponse',
  item: [
    { linkId: 'a', answer: [{ valueBoolean: true, extension: [origin('auto')] }] },
    {
      linkId: 'g',
      item: [
        { linkId: 'b', answer: [{ valueBoolean: false, extension: [origin('override', 'Practitioner/p1')] }] },
        { linkId: 'c', answer: [{ valueBoolean: true, extension: [origin('manual', 'Practitioner/p1')] }] },
        { linkId: 'd', answer: [{ valueBoolean: true }] },
        { linkId: 'e', answer: [{ valueBoolean: true, extension: [origin('auto-server')] }] },
      ],
    },
    {
      linkId: 'q',
      answer: [
        {
          valueCoding: { code: 'x' },
          item: [{ linkId: 'nested', answer: [{ valueString: 's', extension: [origin('weird')] }] }],
        },
      ],
    },
  ],
};

describe('information origin of answers', () => {
  test('classifies every answer wherever it is nested', () => {
    expect(classifyAnswers(qr)).toEqual([
      { linkId: 'a', value: { valueBoolean: true }, origin: 'auto' },
      { linkId: 'b', value: { valueBoolean: false }, origin: 'override', author: 'Practitioner/p1' },
      { linkId: 'c', value: { valueBoolean: true }, origin: 'manual', author: 'Practitioner/p1' },
      { linkId: 'd', value: { valueBoolean: true }, origin: 'unmarked' },
      { linkId: 'e', value: { valueBoolean: true }, origin: 'auto' },
      { linkId: 'q', value: { valueCoding: { code: 'x' } }, origin: 'unmarked' },
      { linkId: 'nested', value: { valueString: 's' }, origin: 'unmarked' },
    ]);
    expect(classifyAnswers(undefined)).toEqual([]);
  });

  test('R3 at the next sign: an override against the record contradicts; auto never does', () => {
    const [auto, override, manual] = classifyAnswers(qr);
    expect(answerVerdict(auto!, { state: 'not-met' })).toBe('agrees-by-construction');
    expect(answerVerdict(auto!, { state: 'unknown' })).toBe('decides');
    expect(answerVerdict(override!, { state: 'met' })).toBe('contradicts');
    expect(answerVerdict(override!, { state: 'not-met' })).toBe('agrees');
    expect(answerVerdict(override!, { state: 'unknown' })).toBe('decides');
    expect(answerVerdict(manual!, { state: 'not-met' })).toBe('contradicts');
  });
});

describe("markOrigins: what a DTR client puts back on a renderer's response", () => {
  const prefilled: fhir4.QuestionnaireResponse = {
    resourceType: 'QuestionnaireResponse',
    status: 'in-progress',
    subject: { reference: 'Patient/p' },
    extension: [
      {
        url: 'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/qr-context',
        valueReference: { reference: 'ServiceRequest/s' },
      },
    ],
    item: [
      {
        linkId: 'a',
        answer: [
          {
            valueBoolean: true,
            extension: [
              origin('auto'),
              {
                url: 'http://hl7.org/fhir/StructureDefinition/derivation-reference',
                extension: [{ url: 'reference', valueReference: { display: 'ev' } }],
              },
            ],
          },
        ],
      },
      { linkId: 'b', answer: [{ valueBoolean: false, extension: [origin('auto')] }] },
      { linkId: 'k', answer: [{ valueCoding: { system: 's', code: 'A' }, extension: [origin('auto')] }] },
    ],
  };
  const exported: fhir4.QuestionnaireResponse = {
    resourceType: 'QuestionnaireResponse',
    status: 'completed',
    item: [
      { linkId: 'a', answer: [{ valueBoolean: true }] },
      { linkId: 'b', answer: [{ valueBoolean: true }] },
      { linkId: 'k', answer: [{ valueCoding: { system: 's', code: 'A', display: 'shown' } }] },
      { linkId: 'g', item: [{ linkId: 'c', answer: [{ valueBoolean: false }] }] },
    ],
  };

  test('kept answers are auto again (with their evidence), changed ones override, new ones manual', () => {
    const marked = markOrigins(exported, prefilled, { practitioner: { reference: 'Practitioner/dr' } });
    expect(classifyAnswers(marked).map((a) => [a.linkId, a.origin, a.author])).toEqual([
      ['a', 'auto', undefined],
      ['b', 'override', 'Practitioner/dr'],
      ['k', 'auto', undefined],
      ['c', 'manual', 'Practitioner/dr'],
    ]);
    expect(marked.item?.[0]?.answer?.[0]?.extension).toEqual(prefilled.item?.[0]?.answer?.[0]?.extension);
    expect(marked.subject).toEqual({ reference: 'Patient/p' });
    expect(marked.extension).toEqual(prefilled.extension);
    expect(marked.status).toBe('completed');
  });

  test('an override that contradicts the record pends (R3)', () => {
    const marked = markOrigins(exported, prefilled, { practitioner: { reference: 'Practitioner/dr' } });
    const b = classifyAnswers(marked).find((a) => a.linkId === 'b')!;
    expect(answerVerdict(b, { state: 'not-met' })).toBe('contradicts');
  });
});
