import { readFileSync } from 'node:fs';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import { parse } from 'yaml';
import { describe, expect, test } from 'vitest';
import { codeList } from '../src/rules/code-lists.js';
import { compileClosure, DECLINED } from '../src/rules/fhirpath-closures.js';
import { functionTable } from '../src/rules/fhirpath-functions.js';
import { unitAliases } from '../src/rules/units.js';

/** test/vectors/fhirpath-closures.yaml: each case run by the closure and by fhirpath.js on the same variables. */

interface Vectors {
  vars: Record<string, unknown>;
  cases: { expression: string; closes?: boolean }[];
}

const vectors = parse(readFileSync(new URL('vectors/fhirpath-closures.yaml', import.meta.url), 'utf8')) as Vectors;
const lists = new Map([
  [
    'sizes',
    codeList('sizes', {
      description: 'sizes',
      source: 'test',
      codes: [{ system: 'http://loinc.org', code: '33728-7' }],
      prefixes: [],
    }),
  ],
]);
const table = functionTable(lists, unitAliases({}));

function withFhirpath(expression: string, vars: Record<string, unknown>): unknown[] | { error: string } {
  try {
    const out: unknown = fhirpath.evaluate({}, expression, vars, r4, { userInvocationTable: table as never });
    return Array.isArray(out) ? out : [out];
  } catch (e) {
    return { error: String(e) };
  }
}

describe.each(vectors.cases)('$expression', ({ expression, closes }) => {
  test(
    closes ? 'the closure answers as fhirpath.js does' : 'the closure answers as fhirpath.js does, or declines',
    () => {
      const closure = compileClosure(expression, table, { leaf: true });
      if (closes) expect(closure).toBeDefined();
      if (!closure) return;
      // each evaluator on its own copy: fhirpath.js marks what it returns
      const mine = structuredClone(vectors.vars);
      let fast: unknown[] | typeof DECLINED;
      try {
        fast = closure(mine);
      } catch (e) {
        if (e !== DECLINED) throw e;
        fast = DECLINED;
      }
      if (closes) expect(fast).not.toBe(DECLINED);
      if (fast === DECLINED) return;
      expect(JSON.parse(JSON.stringify(fast))).toEqual(withFhirpath(expression, structuredClone(vectors.vars)));
    },
  );
});
