import { isStoreUnavailable, type StoredAssertion } from '../store/index.js';
import type { EvaluationLookup, EvaluationQuery, QuestionnaireCatalog } from './questionnaire-package.js';

/** Small adapters for the integrator: the store as the package's lookup, a list of Questionnaires as its catalog. */

export interface AssertionReader {
  getAssertion(id: string): Promise<StoredAssertion | undefined>;
  latestAssertion(orderRef: string, coverageRef: string): Promise<StoredAssertion | undefined>;
}

/**
 * `findEvaluation` over the store: by coverage-assertion-id, else the latest for the order and coverage. A store
 * that is not open (`undefined` from `open`) or that fails as unavailable is `unavailable` (the package answers
 * 503); any other error is thrown.
 */
export function storeLookup(
  open: () => Promise<AssertionReader | undefined>,
): (query: EvaluationQuery) => Promise<EvaluationLookup> {
  return async (query) => {
    const store = await open();
    if (store === undefined) return 'unavailable';
    try {
      return await ('assertionId' in query
        ? store.getAssertion(query.assertionId)
        : store.latestAssertion(query.orderRef, query.coverageRef));
    } catch (error) {
      if (isStoreUnavailable(error)) return 'unavailable';
      throw error;
    }
  };
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = Number(x);
    const ny = Number(y);
    const c = Number.isInteger(nx) && Number.isInteger(ny) && x !== '' && y !== '' ? nx - ny : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

/** The catalog of the Questionnaires served; without a version, the highest version of that url. */
export function questionnaireCatalog(
  questionnaires: readonly fhir4.Questionnaire[],
  valueSets: readonly fhir4.ValueSet[] = [],
): QuestionnaireCatalog {
  return {
    find(url, version) {
      const same = questionnaires.filter((q) => q.url === url && (version === undefined || q.version === version));
      return [...same].sort((a, b) => compareVersions(b.version ?? '', a.version ?? ''))[0];
    },
    valueSet(canonical) {
      const [url, version] = canonical.split('|');
      return valueSets.find((vs) => vs.url === url && (version === undefined || vs.version === version));
    },
  };
}
