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
  return conceptCodings(codeableConcept(order)).map((c) =>
    c.system === undefined ? c : { ...c, system: canonicalSystem(c.system) as string },
  );
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

/** The request resources CDS Hooks order-sign carries as draft orders (FHIR R4 request pattern). */
export const DRAFT_ORDER_TYPES: readonly string[] = [
  'DeviceRequest',
  'MedicationRequest',
  'NutritionOrder',
  'ServiceRequest',
  'VisionPrescription',
  'CommunicationRequest',
  'SupplyRequest',
];

/** The element naming the order's patient: `patient` on NutritionOrder and VisionPrescription, else `subject`. */
export function patientElement(resourceType: string): 'subject' | 'patient' {
  return resourceType === 'NutritionOrder' || resourceType === 'VisionPrescription' ? 'patient' : 'subject';
}

/**
 * Whom a reference names, as `Type/id`: relative (`Patient/p1`), or absolute (`https://ehr/fhir/Patient/p1`, a
 * `_history` version dropped); undefined when it names no resource by type and id (contained, identifier only).
 */
export function referencedResource(reference: unknown): string | undefined {
  if (typeof reference !== 'string') return undefined;
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(reference);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

export type DraftOrderProblem = { readonly path: string; readonly message: string };

/**
 * Why a draft order cannot be answered for this call: not a request resource, or for another patient than the
 * call's (a draft without a patient reference is taken as the call's patient). `at` is the entry's JSON path.
 */
export function draftOrderProblem(
  order: Record<string, unknown>,
  patientId: string,
  at: string,
): DraftOrderProblem | undefined {
  const type = order['resourceType'];
  if (typeof type !== 'string' || !DRAFT_ORDER_TYPES.includes(type)) {
    return {
      path: `${at}.resourceType`,
      message: `${JSON.stringify(String(type).slice(0, 64))} is not a request resource a draft order can be (${DRAFT_ORDER_TYPES.join(', ')})`,
    };
  }
  const element = patientElement(type);
  const value = order[element];
  const reference = isObject(value) ? value['reference'] : undefined;
  const named = referencedResource(reference);
  if (reference !== undefined && named !== undefined && named !== `Patient/${patientId}`) {
    return {
      path: `${at}.${element}`,
      message: `names ${named.slice(0, 80)}, not the patient in context (Patient/${patientId})`,
    };
  }
  return undefined;
}
