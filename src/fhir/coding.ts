import { isObject } from './bundle.js';

/** The one reader of Codings as they arrive on the wire: only the parts that are well formed. */

export interface Coding {
  readonly system?: string;
  readonly code?: string;
  readonly display?: string;
}

export function readCoding(value: unknown): Coding | undefined {
  if (!isObject(value)) return undefined;
  // one object, its keys in the order system, code, display (no spread of temporary objects: this runs per coding)
  const coding: { system?: string; code?: string; display?: string } = {};
  const { system, code, display } = value;
  if (typeof system === 'string') coding.system = system;
  if (typeof code === 'string') coding.code = code;
  if (typeof display === 'string') coding.display = display;
  return coding;
}

/** The codings of a CodeableConcept; none when it is not one. */
export function conceptCodings(concept: unknown): Coding[] {
  const list = isObject(concept) ? concept['coding'] : undefined;
  if (!Array.isArray(list)) return [];
  const codings: Coding[] = [];
  for (const c of list as unknown[]) {
    const coding = readCoding(c);
    if (coding) codings.push(coding);
  }
  return codings;
}

/** The first coding that has `part`, preferring one of `system`. */
export function preferredCoding(
  codings: readonly Coding[],
  part: 'code' | 'display',
  system?: string,
): Coding | undefined {
  return (
    codings.find((c) => c.system === system && c[part] !== undefined) ?? codings.find((c) => c[part] !== undefined)
  );
}
