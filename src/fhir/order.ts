import { isObject } from './bundle.js';
import { canonicalSystem } from './systems.js';

/** What the engine reads of a draft order, whatever its resource type and however loosely it is formed. */

/** A draft order as the engine handles it: any resource type, loosely formed. */
export type DraftOrder = Record<string, unknown> & { resourceType: string };

export interface OrderCoding {
  readonly system?: string;
  readonly code?: string;
  readonly display?: string;
}

const CODE_ELEMENTS = ['code', 'codeCodeableConcept', 'medicationCodeableConcept', 'productCodeableConcept'] as const;

function codeableConcept(order: Record<string, unknown>): Record<string, unknown> | undefined {
  for (const element of CODE_ELEMENTS) {
    const value = order[element];
    if (isObject(value)) return value;
  }
  return undefined;
}

export function orderCodings(order: Record<string, unknown>): OrderCoding[] {
  const concept = codeableConcept(order);
  const codings = concept?.['coding'];
  if (!Array.isArray(codings)) return [];
  return codings.filter(isObject).map((c) => ({
    ...(typeof c['system'] === 'string' ? { system: canonicalSystem(c['system']) as string } : {}),
    ...(typeof c['code'] === 'string' ? { code: c['code'] } : {}),
    ...(typeof c['display'] === 'string' ? { display: c['display'] } : {}),
  }));
}

/** `ServiceRequest/sr-1`, or undefined when the order has no usable id. */
export function orderReference(order: Record<string, unknown>): string | undefined {
  const id = order['id'];
  return typeof id === 'string' && id.length > 0 ? `${String(order['resourceType'])}/${id}` : undefined;
}

/** The order's name without its code: its text, else the display of its first coding, else its type. */
export function orderName(order: Record<string, unknown>, preferredSystem?: string): string {
  const text = codeableConcept(order)?.['text'];
  if (typeof text === 'string' && text.trim() !== '') return text.trim();
  const codings = orderCodings(order);
  const coding = codings.find((c) => c.system === preferredSystem && c.display) ?? codings.find((c) => c.display);
  return coding?.display ?? String(order['resourceType']);
}

/** A clinician-readable name for the order: its text, else the display and code of its first coding. */
export function orderLabel(order: Record<string, unknown>, preferredSystem?: string): string {
  const concept = codeableConcept(order);
  const text = concept?.['text'];
  const codings = orderCodings(order);
  const coding = codings.find((c) => c.system === preferredSystem && c.code) ?? codings.find((c) => c.code);
  const codeNote = coding?.code ? ` (${coding.code})` : '';
  if (typeof text === 'string' && text.trim() !== '') return `${text.trim()}${codeNote}`;
  if (coding?.display) return `${coding.display}${codeNote}`;
  if (coding?.code) return `${String(order['resourceType'])} ${coding.code}`;
  return String(order['resourceType']);
}
