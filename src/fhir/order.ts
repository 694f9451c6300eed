import { isObject } from './bundle.js';
import { conceptCodings, preferredCoding, type Coding } from './coding.js';
import { canonicalSystem } from './systems.js';

/** What the engine reads of a draft order, whatever its resource type and however loosely it is formed. */

/** A draft order as the engine handles it: any resource type, loosely formed. */
export type DraftOrder = Record<string, unknown> & { resourceType: string };

const CODE_ELEMENTS = ['code', 'codeCodeableConcept', 'medicationCodeableConcept', 'productCodeableConcept'] as const;

function codeableConcept(order: Record<string, unknown>): Record<string, unknown> | undefined {
  for (const element of CODE_ELEMENTS) {
    const value = order[element];
    if (isObject(value)) return value;
  }
  return undefined;
}

/** The codings of the order's code, systems canonical (an OID names the same system as its URI). */
export function orderCodings(order: Record<string, unknown>): Coding[] {
  return conceptCodings(codeableConcept(order)).map((c) => (c.system === undefined ? c : { ...c, system: canonicalSystem(c.system) as string }));
}

/** The codings of the order's body sites (ServiceRequest.bodySite, Procedure-like orders alike). */
export function orderBodySites(order: Record<string, unknown>): Coding[] {
  const sites = order['bodySite'];
  return Array.isArray(sites) ? sites.flatMap((s) => conceptCodings(s)) : [];
}

/** `ServiceRequest/sr-1`, or undefined when the order has no usable id. */
export function orderReference(order: Record<string, unknown>): string | undefined {
  const id = order['id'];
  return typeof id === 'string' && id.length > 0 ? `${String(order['resourceType'])}/${id}` : undefined;
}

/**
 * How clinicians name the order: its text, else the display of its first coding, else its type; with
 * `withCode`, followed by the code of its first coded coding: `<text> (<code>)`.
 */
export function orderName(order: Record<string, unknown>, preferredSystem?: string, { withCode = false } = {}): string {
  const text = codeableConcept(order)?.['text'];
  const codings = orderCodings(order);
  const name =
    typeof text === 'string' && text.trim() !== ''
      ? text.trim()
      : (preferredCoding(codings, 'display', preferredSystem)?.display ?? String(order['resourceType']));
  const code = withCode ? preferredCoding(codings, 'code', preferredSystem)?.code : undefined;
  return code ? `${name} (${code})` : name;
}
