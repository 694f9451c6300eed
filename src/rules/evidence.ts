import { isObject, isResource, type Rec } from '../fhir/bundle.js';
import { conceptCodings } from '../fhir/coding.js';
import { clinicalInstant } from './fhirpath-functions.js';

/** A FHIRPath result that is not a resource or an element: a string, number, boolean, or nothing. */
const primitiveText = (v: unknown): string =>
  typeof v === 'string'
    ? v
    : typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint'
      ? v.toString()
      : v === null
        ? 'null'
        : 'undefined';

/** Evidence: what decided a criterion, as a reference clinicians and reviewers can follow and a one-line summary. */

export interface Evidence {
  readonly reference?: string;
  readonly summary: string;
}

/** The display of a code from the policy's code lists, for data that carries none. */
export type DisplayLookup = (system: string | undefined, code: string) => string | undefined;

const NO_DISPLAYS: DisplayLookup = () => undefined;

function conceptText(concept: unknown, lookup: DisplayLookup): string | undefined {
  if (!isObject(concept)) return undefined;
  if (typeof concept['text'] === 'string' && concept['text'].trim()) return concept['text'].trim();
  const codings = conceptCodings(concept);
  const withDisplay = codings.find((c) => c.display !== undefined);
  if (withDisplay) return `${withDisplay.display} (${withDisplay.code ?? ''})`.replace(' ()', '');
  for (const c of codings) {
    const display = c.code === undefined ? undefined : lookup(c.system, c.code);
    if (display) return `${display} (${c.code})`;
  }
  const code = codings.find((c) => c.code !== undefined)?.code;
  return code === undefined ? undefined : `a code without a name (${code})`;
}

function quantityText(q: unknown): string | undefined {
  if (!isObject(q) || typeof q['value'] !== 'number') return undefined;
  const unit = typeof q['unit'] === 'string' ? q['unit'] : typeof q['code'] === 'string' ? q['code'] : '';
  const comparator = typeof q['comparator'] === 'string' ? q['comparator'] : '';
  return `${comparator}${q['value']}${unit ? ` ${unit}` : ''}`;
}

function valueText(r: Rec, d: DisplayLookup): string | undefined {
  return (
    quantityText(r['valueQuantity']) ??
    conceptText(r['valueCodeableConcept'], d) ??
    (typeof r['valueString'] === 'string' ? r['valueString'] : undefined) ??
    (typeof r['valueBoolean'] === 'boolean' ? String(r['valueBoolean']) : undefined) ??
    (typeof r['valueInteger'] === 'number' ? String(r['valueInteger']) : undefined)
  );
}

function componentsText(r: Rec, d: DisplayLookup): string | undefined {
  if (!Array.isArray(r['component'])) return undefined;
  const parts = r['component'].filter(isObject).flatMap((c) => {
    const value = valueText(c, d);
    return value ? [`${conceptText(c['code'], d) ?? 'component'} ${value}`] : [];
  });
  return parts.length > 0 ? parts.join('; ') : undefined;
}

function resourceSummary(r: Rec, d: DisplayLookup): string {
  const what = conceptText(r['code'], d) ?? conceptText(r['type'], d) ?? String(r['resourceType']);
  const value = valueText(r, d) ?? componentsText(r, d);
  const status =
    r['resourceType'] === 'Coverage' && typeof r['status'] === 'string' ? `status ${r['status']}` : undefined;
  const date = clinicalInstant(r)?.slice(0, 10);
  return [what, value, status].filter(Boolean).join(' ') + (date ? ` on ${date}` : '');
}

function conceptSummary(c: Rec, d: DisplayLookup): string {
  return conceptText(c, d) ?? 'coded concept';
}

/**
 * Turns a FHIRPath result into evidence; `false`, `null` and empty strings are not evidence. Codes without a
 * display are named from `displays` (the policy's code lists), never shown bare.
 */
export function toEvidence(items: readonly unknown[], displays: DisplayLookup = NO_DISPLAYS): Evidence[] {
  return items.flatMap((item): Evidence[] => {
    if (item === false || item === null || item === undefined || item === '') return [];
    if (isResource(item)) {
      const r = item as unknown as Rec;
      const reference = typeof r['id'] === 'string' ? `${String(r['resourceType'])}/${r['id']}` : undefined;
      return [{ ...(reference ? { reference } : {}), summary: resourceSummary(r, displays) }];
    }
    if (isObject(item) && typeof item['reference'] === 'string')
      return [
        {
          reference: item['reference'],
          summary: typeof item['display'] === 'string' ? item['display'] : item['reference'],
        },
      ];
    if (isObject(item) && typeof item['display'] === 'string' && !('coding' in item))
      return [{ summary: item['display'] }];
    if (isObject(item)) return [{ summary: quantityText(item) ?? conceptSummary(item, displays) }];
    if (item === true) return [];
    return [{ summary: primitiveText(item) }];
  });
}

/** Whether a FHIRPath result counts as a yes: any item that is not false/null/empty. */
export function isAffirmative(items: readonly unknown[]): boolean {
  return items.some((i) => i !== false && i !== null && i !== undefined && i !== '');
}
