import { describe, expect, test } from 'vitest';
import { attestationsFor, QR_CONTEXT } from '../src/rules/attestation.js';
import { explainDecision } from '../src/rules/explain.js';
import { shippedRegistry } from './support/app.js';
import { runScenario, scenarioFiles } from './support/scenarios.js';

const URL_ = 'https://crd.example.org/fhir/Questionnaire/cryo';

function qr(id: string, extra: Record<string, unknown>, items: Record<string, boolean>): fhir4.Resource {
  return {
    resourceType: 'QuestionnaireResponse',
    id,
    status: 'completed',
    questionnaire: `${URL_}|2.1.0`,
    subject: { reference: 'Patient/p1' },
    item: Object.entries({ attestation: true, ...items }).map(([linkId, v]) => ({
      linkId,
      answer: [{ valueBoolean: v }],
    })),
    ...extra,
  } as fhir4.Resource;
}

const read = (responses: fhir4.Resource[], order = 'ServiceRequest/sr-1') =>
  attestationsFor({ responses, questionnaireUrl: URL_, patientId: 'p1', orderReference: order });

describe('attestation from QuestionnaireResponses', () => {
  test('the canonical matches without its |version', () => {
    expect(read([qr('a', {}, { 'V.A': true })]).answer('V.A')).toMatchObject({
      value: true,
      reference: 'QuestionnaireResponse/a',
    });
  });

  test('the DTR qr-context extension links a response to an order like basedOn does', () => {
    const linked = qr(
      'a',
      { extension: [{ url: QR_CONTEXT, valueReference: { reference: 'ServiceRequest/sr-2' } }] },
      { 'V.A': true },
    );
    expect(read([linked], 'ServiceRequest/sr-1').answer('V.A')).toBeUndefined();
    expect(read([linked], 'ServiceRequest/sr-2').answer('V.A')?.value).toBe(true);
  });

  test('a response linked to the order comes before a newer unlinked one', () => {
    const linked = qr(
      'linked',
      { basedOn: [{ reference: 'ServiceRequest/sr-1' }], authored: '2026-01-01' },
      { 'V.A': false },
    );
    const newer = qr('newer', { authored: '2026-11-01' }, { 'V.A': true });
    expect(read([newer, linked]).answer('V.A')).toMatchObject({
      value: false,
      reference: 'QuestionnaireResponse/linked',
    });
  });

  describe('ruling R4: an unlinked response applies only to an order of its section and site', () => {
    const sectionOf = (id: string) => (id.startsWith('V.') ? 'V' : id.startsWith('IV.') ? 'IV' : undefined);
    const withScope = (
      responses: fhir4.Resource[],
      candidateSections: string[],
      bodySites: { system: string; code: string }[] = [],
    ) =>
      attestationsFor({
        responses,
        questionnaireUrl: URL_,
        patientId: 'p1',
        orderReference: 'ServiceRequest/sr-1',
        order: { candidateSections, sectionOf, bodySites },
      });
    const site = (code: string) => ({
      linkId: 'body-site',
      answer: [{ valueCoding: { system: 'http://snomed.info/sct', code } }],
    });
    const withSite = (r: fhir4.Resource, code: string) =>
      ({ ...r, item: [site(code), ...(r as unknown as { item: unknown[] }).item] }) as fhir4.Resource;

    test('the section is read from the criteria answered when no indication is given', () => {
      expect(withScope([qr('a', {}, { 'V.C': true })], ['V']).answer('V.C')?.value).toBe(true);
      expect(withScope([qr('a', {}, { 'V.C': true })], ['IV']).answer('V.C')).toBeUndefined();
    });

    test('a site named by the order must be the site the response names', () => {
      const right = { system: 'http://snomed.info/sct', code: '9846003' };
      expect(withScope([withSite(qr('a', {}, { 'V.C': true }), '9846003')], ['V'], [right]).answer('V.C')?.value).toBe(
        true,
      );
      expect(
        withScope([withSite(qr('a', {}, { 'V.C': true }), '18639004')], ['V'], [right]).answer('V.C'),
      ).toBeUndefined();
      expect(withScope([qr('a', {}, { 'V.C': true })], ['V'], [right]).answer('V.C')).toBeUndefined();
    });

    test('a linked response applies whatever it answered', () => {
      const linked = qr('a', { basedOn: [{ reference: 'ServiceRequest/sr-1' }] }, { 'IV.B.3': true });
      expect(withScope([linked], ['V']).answer('IV.B.3')).toMatchObject({ value: true, linked: true });
    });
  });

  test("another patient's response never counts", () => {
    expect(read([qr('a', { subject: { reference: 'Patient/p2' } }, { 'V.A': true })]).answer('V.A')).toBeUndefined();
  });

  test('a response that names no patient never counts, linked to the order or not', () => {
    const linked = { basedOn: [{ reference: 'ServiceRequest/sr-1' }] };
    for (const extra of [{}, linked]) {
      const anonymous = { ...qr('a', extra, { 'V.A': true }), subject: undefined } as fhir4.Resource;
      expect(read([anonymous]).answer('V.A')).toBeUndefined();
    }
  });

  test.each([
    { what: 'authored the evaluation day', authored: '2026-11-23T23:30:00-05:00', counts: true },
    { what: 'authored the next day, in a time zone ahead', authored: '2026-11-24T08:00:00+09:00', counts: true },
    { what: 'authored three days after the evaluation day', authored: '2026-11-26T10:00:00Z', counts: false },
  ])('a linked response $what: counts $counts', ({ authored, counts }) => {
    const answered = qr('a', { authored, basedOn: [{ reference: 'ServiceRequest/sr-1' }] }, { 'V.A': true });
    const a = attestationsFor({
      responses: [answered],
      questionnaireUrl: URL_,
      patientId: 'p1',
      orderReference: 'ServiceRequest/sr-1',
      evaluationDate: '2026-11-23',
    });
    expect(a.answer('V.A')?.value).toBe(counts ? true : undefined);
  });

  test('a response whose attestation item is false is void', () => {
    expect(read([qr('a', {}, { 'V.A': true, attestation: false })]).answer('V.A')).toBeUndefined();
  });

  test('a response without a "yes" to the attestation item does not count', () => {
    const unattested = {
      ...qr('a', {}, {}),
      item: [{ linkId: 'V.A', answer: [{ valueBoolean: true }] }],
    } as fhir4.Resource;
    expect(read([unattested]).answer('V.A')).toBeUndefined();
  });

  test('an unlinked response expires after the configured days; one linked to the order does not', () => {
    const old = qr('old', { authored: '2026-01-10T10:00:00Z' }, { 'V.A': true });
    const linkedOld = qr(
      'linked',
      { authored: '2026-01-10T10:00:00Z', basedOn: [{ reference: 'ServiceRequest/sr-1' }] },
      { 'V.B': true },
    );
    const a = attestationsFor({
      responses: [old, linkedOld],
      questionnaireUrl: URL_,
      patientId: 'p1',
      orderReference: 'ServiceRequest/sr-1',
      maxAgeDays: 90,
      evaluationDate: '2026-11-23',
    });
    expect(a.answer('V.A')).toBeUndefined();
    expect(a.answer('V.B')?.value).toBe(true);
  });

  test('answers nested under answers (item.answer.item) are read too', () => {
    const nested = {
      ...qr('a', {}, {}),
      item: [
        { linkId: 'attestation', answer: [{ valueBoolean: true }] },
        {
          linkId: 'indication',
          answer: [{ valueCoding: { code: 'V' }, item: [{ linkId: 'V.B', answer: [{ valueBoolean: true }] }] }],
        },
      ],
    } as fhir4.Resource;
    const a = read([nested]);
    expect(a.answer('V.B')?.value).toBe(true);
    expect(a.answer('indication')?.value).toEqual({ code: 'V' });
  });
});

describe('npm run explain', () => {
  test('prints every node with its state, what decided it and its evidence', async () => {
    const scenario = scenarioFiles().find((s) => s.name === 'tumor-5cm-egfr-48-covered-by-v-b')!;
    const [d] = await runScenario(shippedRegistry().get('cryoablation-order-sign')!, scenario.fixture);
    const text = explainDecision('sr-1', d!);
    expect(text.split('\n')[0]).toBe('sr-1: COVERED (met: V)');
    expect(text).toMatch(/\[not met\] V\.A .*\n\s+- Observation\/tumorsize-2: .*5 cm on 2026-10-01/);
    expect(text).toMatch(
      /\[met\]\s+V\.B .*\n\s+- Observation\/egfr-3: .*eGFR \(MDRD\) \(33914-3\) 48 mL\/min\/1\.73m2 on 2026-10-02/,
    );
  });
});
