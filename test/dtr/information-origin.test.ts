import { describe, expect, test } from 'vitest';
import { answerVerdict, classifyAnswers, INFORMATION_ORIGIN } from '../../src/dtr/information-origin.js';

const origin = (source: string, practitioner?: string): fhir4.Extension => ({
  url: INFORMATION_ORIGIN,
  extension: [
    { url: 'source', valueCode: source },
    ...(practitioner ? [{ url: 'author', extension: [{ url: 'practitioner', valueReference: { reference: practitioner } }] }] : []),
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
    { linkId: 'q', answer: [{ valueCoding: { code: 'x' }, item: [{ linkId: 'nested', answer: [{ valueString: 's', extension: [origin('weird')] }] }] }] },
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
