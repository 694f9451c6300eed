import { canonicalSystem } from '../fhir/systems.js';
import type { CodeListsFile } from './policy-schema.js';

/** Named code lists (value sets given by enumeration, plus ICD-10-CM category prefixes). */

export interface CodeList {
  readonly name: string;
  has(system: unknown, code: unknown): boolean;
}

export function codeList(name: string, def: CodeListsFile['lists'][string]): CodeList {
  const exact = new Set(def.codes.map((c) => `${c.system}|${c.code}`));
  const prefixes = def.prefixes.map((p) => ({ system: p.system, prefix: p.prefix }));
  return {
    name,
    has(rawSystem, code) {
      const system = canonicalSystem(rawSystem);
      if (typeof system !== 'string' || typeof code !== 'string') return false;
      const trimmed = code.trim();
      return exact.has(`${system}|${trimmed}`) || prefixes.some((p) => p.system === system && trimmed.startsWith(p.prefix));
    },
  };
}

export function codeLists(file: CodeListsFile): Map<string, CodeList> {
  return new Map(Object.entries(file.lists).map(([name, def]) => [name, codeList(name, def)]));
}
