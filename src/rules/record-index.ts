import { isObject, type Rec } from '../fhir/bundle.js';
import { conceptCodings } from '../fhir/coding.js';
import { canonicalSystem } from '../fhir/systems.js';

/**
 * The patient's record indexed once per request: resources by type, by `Type/id`, by `system|code` of their
 * `code`, and who refers to whom (reverse references), so evidence can be tied to a Condition without a scan
 * per criterion.
 */

/** Where the engine's FHIRPath variables carry the request's record index (for `coded()`; not a %name). */
export const RECORD_INDEX: unique symbol = Symbol('record index');

/** A code list as the index sees it (rules/code-lists.ts `CodeList`). */
export interface CodeMatcher {
  has(system: unknown, code: unknown): boolean;
}

export interface RecordIndex {
  ofType(type: string): readonly Rec[];
  byReference(reference: string): Rec | undefined;
  /** Resources whose `code` has a coding `system|code` (system canonicalised). */
  withCode(system: string | undefined, code: string | undefined): readonly Rec[];
  /**
   * Resources whose `code` is a CodeableConcept with a coding in `list`, found by testing each distinct
   * `system|code` of the record once (memoized per list for the index's lifetime, i.e. one request).
   */
  codedIn(list: CodeMatcher): ReadonlySet<Rec>;
  /** Whether the resource's `code` was indexed (a CodeableConcept with a coding list), so `codedIn` decides it. */
  indexesCodeOf(resource: Rec): boolean;
  /** The references a resource makes in `element` (a Reference or a list of them), as `Type/id`. */
  references(resource: Rec, element: string): readonly string[];
  /** Resources that refer to `reference` in `element`. */
  referrers(reference: string, element: string): readonly Rec[];
}

export const referenceOf = (r: Rec): string | undefined =>
  typeof r['resourceType'] === 'string' && typeof r['id'] === 'string' ? `${r['resourceType']}/${r['id']}` : undefined;

/** `Type/id` of a Reference, dropping a base URL (`http://ehr/fhir/Condition/1`) and a version. */
export function targetOf(reference: unknown): string | undefined {
  if (!isObject(reference) || typeof reference['reference'] !== 'string') return undefined;
  const m = /(?:^|\/)([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference['reference']);
  return m?.[1];
}

function referencesIn(value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value];
  return list.flatMap((v) => targetOf(v) ?? []);
}

const text = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
const codeKey = (system: unknown, code: unknown): string => `${text(canonicalSystem(system))}|${text(code)}`;

/** Elements whose references are indexed in reverse. */
const REVERSE_ELEMENTS = ['focus', 'hasMember', 'derivedFrom'] as const;

interface CodeEntry {
  readonly system: unknown;
  readonly code: string | undefined;
  readonly resources: Rec[];
}

/** The resources of `entries` whose coding is in `list`. */
function matching(entries: Iterable<CodeEntry>, list: CodeMatcher): Set<Rec> {
  const found = new Set<Rec>();
  for (const e of entries) if (list.has(e.system, e.code)) for (const r of e.resources) found.add(r);
  return found;
}

const hasCodingList = (r: Rec): boolean => {
  const code = r['code'];
  return isObject(code) && Array.isArray(code['coding']);
};

export function buildRecordIndex(resources: readonly fhir4.Resource[]): RecordIndex {
  const byType = new Map<string, Rec[]>();
  const byRef = new Map<string, Rec>();
  const byCode = new Map<string, Rec[]>();
  // the codings exactly as read (code may be absent), each distinct canonical system and code once
  const codings = new Map<string, CodeEntry>();
  const coded = new Set<Rec>();
  const listMatches = new Map<CodeMatcher, Set<Rec>>();
  const reverse = new Map<string, Rec[]>();
  const push = <K>(map: Map<K, Rec[]>, key: K, r: Rec): void => {
    const list = map.get(key);
    if (list) list.push(r);
    else map.set(key, [r]);
  };
  for (const resource of resources) {
    const r = resource as unknown as Rec;
    push(byType, resource.resourceType, r);
    const ref = referenceOf(r);
    if (ref) byRef.set(ref, r);
    if (hasCodingList(r)) coded.add(r);
    for (const c of conceptCodings(r['code'])) {
      const system = canonicalSystem(c.system);
      push(byCode, `${text(system)}|${text(c.code)}`, r);
      const key = `${typeof system === 'string' ? `s${system}` : '-'}\u0000${c.code === undefined ? '-' : `c${c.code}`}`;
      const entry = codings.get(key);
      if (entry) entry.resources.push(r);
      else codings.set(key, { system, code: c.code, resources: [r] });
    }
    for (const element of REVERSE_ELEMENTS) {
      const value = r[element];
      if (value !== undefined) for (const target of referencesIn(value)) push(reverse, `${element} ${target}`, r);
    }
  }
  return {
    ofType: (type) => byType.get(type) ?? [],
    byReference: (reference) => byRef.get(reference),
    withCode: (system, code) => byCode.get(codeKey(system, code)) ?? [],
    codedIn: (list) => {
      let found = listMatches.get(list);
      if (!found) listMatches.set(list, (found = matching(codings.values(), list)));
      return found;
    },
    indexesCodeOf: (resource) => coded.has(resource),
    references: (resource, element) => referencesIn(resource[element]),
    referrers: (reference, element) => reverse.get(`${element} ${reference}`) ?? [],
  };
}
