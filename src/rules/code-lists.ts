import { canonicalSystem } from '../fhir/systems.js';
import type { CodeListsFile } from './policy-schema.js';

/** Named code lists (value sets given by enumeration, plus ICD-10-CM category prefixes). */

export interface CodeList {
  readonly name: string;
  has(system: unknown, code: unknown): boolean;
}

/** The display the code lists give a code (exact codes first, then the longest matching prefix). */
export function displayLookup(file: CodeListsFile): (system: string | undefined, code: string) => string | undefined {
  const exact = new Map<string, string>();
  const prefixes: { system: string; prefix: string; display: string }[] = [];
  // A prefix's display names its code range ("... (<code>, <code>, ...)"); the evidence adds the code itself.
  const name = (d: string) => d.replace(/\s*\([^()]*\d[^()]*\)\s*$/, '');
  for (const list of Object.values(file.lists)) {
    for (const c of list.codes)
      if (c.display && !exact.has(`${c.system}|${c.code}`)) exact.set(`${c.system}|${c.code}`, c.display);
    for (const p of list.prefixes)
      if (p.display) prefixes.push({ system: p.system, prefix: p.prefix, display: name(p.display) });
  }
  prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
  return (rawSystem, code) => {
    const system = canonicalSystem(rawSystem);
    if (typeof system !== 'string') return undefined;
    return (
      exact.get(`${system}|${code.trim()}`) ??
      prefixes.find((p) => p.system === system && code.trim().startsWith(p.prefix))?.display
    );
  };
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
      return (
        exact.has(`${system}|${trimmed}`) || prefixes.some((p) => p.system === system && trimmed.startsWith(p.prefix))
      );
    },
  };
}

export function codeLists(file: CodeListsFile): Map<string, CodeList> {
  return new Map(Object.entries(file.lists).map(([name, def]) => [name, codeList(name, def)]));
}
