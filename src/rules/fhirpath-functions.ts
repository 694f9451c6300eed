import { isObject } from '../fhir/bundle.js';
import { conceptCodings, readCoding, type Coding } from '../fhir/coding.js';
import type { CodeList } from './code-lists.js';
import { RECORD_INDEX, type RecordIndex } from './record-index.js';
import { valueIn, type UnitAliases } from './units.js';

/**
 * Functions the engine adds to FHIRPath (fhirpath.js userInvocationTable). They are synchronous and pure:
 * - `inValueSet('name')` on CodeableConcepts or Codings: true when any coding is in the named code list;
 * - `coded('name')` on any collection: the items whose `code` is in the named list, i.e. `where(code.inValueSet('name'))`
 *   without FHIRPath's per-item where(): resources of the request's record index are looked up in its matches for
 *   the list (each distinct code of the record tested once per request), anything else is tested directly;
 * - `valueIn('unit')` on Quantities: the value converted to a UCUM unit (empty when it cannot be converted);
 * - `latest()` / `earliest()` on resources: the one with the newest / oldest clinical date (undated ones never win);
 * - `clinicalDate()` on resources: the date the data is about, as 'YYYY-MM-DD' (use `.toDate()` to compare).
 */

type Fn = {
  fn: (this: unknown, inputs: unknown[], ...params: never[]) => unknown[];
  arity: Record<number, string[]>;
  /** fhirpath.js passes its ResourceNodes (and `this` = its context) instead of plain values. */
  internalStructures?: boolean;
};

/** fhirpath.js ResourceNode → its JSON value. */
const dataOf = (node: unknown): unknown => (isObject(node) && 'data' in node ? node['data'] : node);

/** The request's record index, from fhirpath.js's context (`this.vars`), when the engine's environment made it. */
function recordIndexOf(fhirpathContext: unknown): RecordIndex | undefined {
  const vars = isObject(fhirpathContext) ? fhirpathContext['vars'] : undefined;
  const index = isObject(vars) ? (vars as { [RECORD_INDEX]?: RecordIndex })[RECORD_INDEX] : undefined;
  return index;
}

/** The codings of a CodeableConcept, a Coding, or a resource's `code` (so Conditions can be tested directly). */
function codings(item: unknown): Coding[] {
  if (!isObject(item)) return [];
  if (typeof item['resourceType'] === 'string') return codings(item['code']);
  if (Array.isArray(item['coding'])) return conceptCodings(item);
  const coding = 'code' in item ? readCoding(item) : undefined;
  return coding ? [coding] : [];
}

const inList = (item: unknown, list: CodeList): boolean => codings(item).some((c) => list.has(c.system, c.code));

/** `code.inValueSet(list)` of one item, as where() reads it: true only when some `code` value has a listed coding. */
function codeInList(data: unknown, list: CodeList): boolean {
  if (!isObject(data)) return false;
  const code = data['code'];
  const values: unknown[] = Array.isArray(code) ? code : code === undefined || code === null ? [] : [code];
  return values.some((v) => inList(v, list));
}

function codedItems(fhirpathContext: unknown, inputs: unknown[], list: CodeList): unknown[] {
  if (inputs.length === 0) return [];
  const index = recordIndexOf(fhirpathContext);
  const matches = index?.codedIn(list);
  return inputs.filter((node) => {
    const data = dataOf(node);
    if (index && matches && isObject(data) && index.indexesCodeOf(data)) return matches.has(data);
    return codeInList(data, list);
  });
}

const DATE_PATHS: readonly (readonly string[])[] = [
  ['effectiveDateTime'],
  ['effectivePeriod', 'end'],
  ['effectivePeriod', 'start'],
  ['effectiveInstant'],
  ['performedDateTime'],
  ['performedPeriod', 'end'],
  ['performedPeriod', 'start'],
  ['onsetDateTime'],
  ['onsetPeriod', 'start'],
  ['authored'],
  ['recordedDate'],
  ['issued'],
  ['authoredOn'],
];

/** The instant the resource's data is about, or undefined. */
export function clinicalInstant(resource: unknown): string | undefined {
  if (!isObject(resource)) return undefined;
  for (const path of DATE_PATHS) {
    let value: unknown = resource;
    for (const step of path) value = isObject(value) ? value[step] : undefined;
    if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return value;
  }
  return undefined;
}

function pick(inputs: unknown[], newest: boolean): unknown[] {
  let best: { item: unknown; time: number } | undefined;
  for (const item of inputs) {
    const instant = clinicalInstant(item);
    if (instant === undefined) continue;
    const time = Date.parse(instant);
    if (!best || (newest ? time > best.time : time < best.time)) best = { item, time };
  }
  return best ? [best.item] : [];
}

export function functionTable(lists: ReadonlyMap<string, CodeList>, aliases: UnitAliases): Record<string, Fn> {
  const listNamed = (name: string): CodeList => {
    const list = lists.get(name);
    if (!list) throw new Error(`unknown code list ${name}`);
    return list;
  };
  return {
    inValueSet: {
      fn: (inputs: unknown[], name: string) => {
        if (inputs.length === 0) return [];
        const list = lists.get(name);
        if (!list) throw new Error(`unknown code list ${name}`);
        return [inputs.some((i) => inList(i, list))];
      },
      arity: { 1: ['String'] },
    },
    coded: {
      fn(this: unknown, inputs: unknown[], name: string) {
        return inputs.length === 0 ? [] : codedItems(this, inputs, listNamed(name));
      },
      arity: { 1: ['String'] },
      internalStructures: true,
    },
    valueIn: {
      fn: (inputs: unknown[], unit: string) =>
        inputs.flatMap((q) => {
          const v = valueIn(q, unit, aliases);
          return v === undefined ? [] : [v];
        }),
      arity: { 1: ['String'] },
    },
    latest: { fn: (inputs: unknown[]) => pick(inputs, true), arity: { 0: [] } },
    earliest: { fn: (inputs: unknown[]) => pick(inputs, false), arity: { 0: [] } },
    clinicalDate: {
      fn: (inputs: unknown[]) =>
        inputs.flatMap((r) => {
          const instant = clinicalInstant(r);
          return instant ? [instant.slice(0, 10)] : [];
        }),
      arity: { 0: [] },
    },
  };
}
