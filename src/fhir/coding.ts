import { isObject } from './bundle.js';

/** The one reader of Codings as they arrive on the wire: only the parts that are well formed. */

export interface Coding {
  readonly system?: string;
  readonly code?: string;
  readonly display?: string;
}

export function readCoding(value: unknown): Coding | undefined {
  if (!isObject(value)) return undefined;
  return {
    ...(typeof value['system'] === 'string' ? { system: value['system'] } : {}),
    ...(typeof value['code'] === 'string' ? { code: value['code'] } : {}),
    ...(typeof value['display'] === 'string' ? { display: value['display'] } : {}),
  };
}

/** The codings of a CodeableConcept; none when it is not one. */
export function conceptCodings(concept: unknown): Coding[] {
  if (!isObject(concept) || !Array.isArray(concept['coding'])) return [];
  return concept['coding'].flatMap((c) => readCoding(c) ?? []);
}

/** The first coding that has `part`, preferring one of `system`. */
export function preferredCoding(codings: readonly Coding[], part: 'code' | 'display', system?: string): Coding | undefined {
  return codings.find((c) => c.system === system && c[part] !== undefined) ?? codings.find((c) => c[part] !== undefined);
}
