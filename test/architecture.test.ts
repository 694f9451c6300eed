import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';

/** The folder rule of docs/architecture.md: each folder of src/ may import only the folders listed for it. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  server: ['cds-hooks', 'dtr', 'auth', 'store', 'crd', 'rules', 'fhir'],
  dtr: ['auth', 'store', 'crd', 'rules', 'fhir'],
  auth: ['fhir'],
  'cds-hooks': ['crd', 'rules', 'fhir'],
  crd: ['rules', 'fhir'],
  rules: ['fhir'],
  store: [],
  fhir: [],
};

const SRC = fileURLToPath(new URL('../src', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every module specifier of a file: import, export … from, import(), import type. */
function specifiers(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

const folderOf = (file: string): string => relative(SRC, file).split(sep)[0] ?? '';

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly file: string;
  readonly specifier: string;
}

/** Imports that cross from one src folder into another. */
function crossFolderEdges(files: readonly { path: string; text: string }[]): Edge[] {
  return files.flatMap(({ path, text }) =>
    specifiers(text)
      .filter((s) => s.startsWith('.'))
      .flatMap((specifier) => {
        const target = resolve(dirname(path), specifier);
        const from = folderOf(path);
        const to = folderOf(target);
        return relative(SRC, target).startsWith('..') || from === to
          ? []
          : [{ from, to, file: relative(SRC, path), specifier }];
      }),
  );
}

function violations(edges: readonly Edge[], allowed: Readonly<Record<string, readonly string[]>>): string[] {
  return edges
    .filter((e) => !(allowed[e.from] ?? []).includes(e.to))
    .map((e) => `${e.file} imports ${e.specifier} (${e.from} → ${e.to} is not allowed)`);
}

/** A cycle in a folder graph, as a path, or undefined. */
function cycle(graph: Readonly<Record<string, readonly string[]>>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (node: string, path: string[]): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'visiting') return [...path, node];
    state.set(node, 'visiting');
    for (const next of graph[node] ?? []) {
      const found = visit(next, [...path, node]);
      if (found) return found;
    }
    state.set(node, 'done');
    return undefined;
  };
  for (const node of Object.keys(graph)) {
    const found = visit(node, []);
    if (found) return found;
  }
  return undefined;
}

const files = sourceFiles(SRC).map((path) => ({ path, text: readFileSync(path, 'utf8') }));

describe('dependencies between src folders go one way', () => {
  test('every folder of src/ has a place in the rule', () => {
    expect([...new Set(files.map((f) => folderOf(f.path)))].filter((f) => !(f in ALLOWED))).toEqual([]);
  });

  test('the rule itself has no cycle', () => {
    expect(cycle(ALLOWED)).toBeUndefined();
  });

  test('no import crosses folders against the rule', () => {
    const edges = crossFolderEdges(files);
    expect(edges.length).toBeGreaterThan(0);
    expect(violations(edges, ALLOWED)).toEqual([]);
  });

  test('the folders actually imported form no cycle', () => {
    const graph: Record<string, string[]> = {};
    for (const e of crossFolderEdges(files)) (graph[e.from] ??= []).push(e.to);
    expect(cycle(graph)).toBeUndefined();
  });

  test('a back-import is caught, whatever statement form it takes', () => {
    const probe = (text: string) =>
      violations(crossFolderEdges([{ path: join(SRC, 'fhir', 'probe.ts'), text }]), ALLOWED);
    expect(probe("import type { Config } from '../server/config.js';")).toHaveLength(1);
    expect(probe("export { orderSign } from '../cds-hooks/order-sign.js';")).toHaveLength(1);
    expect(probe("const m = await import('../rules/policy.js');")).toHaveLength(1);
    expect(probe("import {\n  a,\n  b,\n} from '../crd/response.js';")).toHaveLength(1);
    expect(probe("import { isObject } from './bundle.js';")).toEqual([]);
    expect(cycle({ a: ['b'], b: ['c'], c: ['a'] })).toEqual(['a', 'b', 'c', 'a']);
  });
});
