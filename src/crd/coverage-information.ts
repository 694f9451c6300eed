import { isObject } from '../fhir/bundle.js';

/**
 * Da Vinci CRD coverage-information (ext-coverage-information, CRD 2.0.1), written onto the draft order and
 * returned as an `update` system action. The values are chosen to satisfy the invariants as written in both
 * 2.0.1 and 2.1: pa-needed present exactly when covered is not `not-covered` (q2, both readings); `conditional`
 * always carries info-needed `OTH` with a reason (2.1 q3, q6), and info-needed only with `conditional` (2.0.1 q3);
 * questionnaire only with doc-needed (q1); no satisfied-pa-id without pa-needed `satisfied` (q5).
 */

export const COVERAGE_INFORMATION = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';

export type Covered = 'covered' | 'not-covered' | 'conditional';

export interface Assertion {
  readonly coverage: string;
  readonly covered: Covered;
  readonly paNeeded?: 'auth-needed' | 'no-auth';
  /** With covered `conditional`: documentation to collect, and the Questionnaire that collects it. */
  readonly documentation?: { readonly questionnaire: string };
  readonly billingCodes: readonly {
    system?: string | undefined;
    code?: string | undefined;
    display?: string | undefined;
  }[];
  readonly reason: string;
  readonly date: string;
  readonly assertionId: string;
}

type Extension = { url: string } & Record<string, unknown>;

export function coverageInformation(a: Assertion): Extension {
  const sub = (url: string, value: Record<string, unknown>): Extension => ({ url, ...value });
  const parts: Extension[] = [
    sub('coverage', { valueReference: { reference: a.coverage } }),
    sub('covered', { valueCode: a.covered }),
  ];
  if (a.covered !== 'not-covered') parts.push(sub('pa-needed', { valueCode: a.paNeeded ?? 'no-auth' }));
  if (a.covered === 'conditional') {
    if (a.documentation) {
      parts.push(
        sub('doc-needed', { valueCode: 'clinical' }),
        sub('doc-purpose', { valueCode: a.paNeeded === 'auth-needed' ? 'withpa' : 'withorder' }),
      );
    }
    parts.push(sub('info-needed', { valueCode: 'OTH' }));
  }
  for (const c of a.billingCodes) {
    if (c.system && c.code)
      parts.push(
        sub('billingCode', {
          valueCoding: { system: c.system, code: c.code, ...(c.display ? { display: c.display } : {}) },
        }),
      );
  }
  parts.push(sub('reason', { valueCodeableConcept: { text: a.reason } }));
  if (a.covered === 'conditional' && a.documentation)
    parts.push(sub('questionnaire', { valueCanonical: a.documentation.questionnaire }));
  parts.push(sub('date', { valueDate: a.date }), sub('coverage-assertion-id', { valueString: a.assertionId }));
  return { url: COVERAGE_INFORMATION, extension: parts };
}

function coverageOf(ext: unknown): string | undefined {
  if (!isObject(ext) || !Array.isArray(ext['extension'])) return undefined;
  const c: unknown = ext['extension'].find((e) => isObject(e) && e['url'] === 'coverage');
  const ref = isObject(c) && isObject(c['valueReference']) ? c['valueReference']['reference'] : undefined;
  return typeof ref === 'string' ? ref : undefined;
}

/**
 * The whole draft order with this assertion on it. An assertion for the same coverage already on the order (a
 * re-sign) is replaced, never duplicated: CRD allows one assertion per coverage. Every other element is kept.
 */
export function withAssertion<T extends Record<string, unknown>>(order: T, ext: Extension): T {
  const existing = Array.isArray(order['extension']) ? (order['extension'] as unknown[]) : [];
  const coverage = coverageOf(ext);
  const kept = existing.filter(
    (e) => !(isObject(e) && e['url'] === COVERAGE_INFORMATION && coverageOf(e) === coverage),
  );
  return { ...structuredClone(order), extension: [...kept, ext] };
}
