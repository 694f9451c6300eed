import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import { describe, expect, test } from 'vitest';
import type { Rec } from '../src/fhir/bundle.js';
import { codeList } from '../src/rules/code-lists.js';
import { environment } from '../src/rules/environment.js';
import { functionTable } from '../src/rules/fhirpath-functions.js';
import { unitAliases } from '../src/rules/units.js';

/** `X.coded('list')` is `X.where(code.inValueSet('list'))`: with the record index, without it, on odd data. */

const X = 'http://example.org/codes';
const lists = new Map([
  [
    'a',
    codeList('a', {
      description: 'a',
      source: 'test',
      codes: [{ system: X, code: 'a1' }],
      prefixes: [{ system: X, prefix: 'AP' }],
    }),
  ],
]);
const table = functionTable(lists, unitAliases({}));
function run(expression: string, vars: Record<string, unknown>, bundle: unknown = {}): unknown[] {
  const out: unknown = fhirpath.compile(expression, r4, { userInvocationTable: table as never })(bundle, vars);
  return Array.isArray(out) ? out : [out];
}

const obs = (id: string, code: unknown, extra: Rec = {}): Rec => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code,
  ...extra,
});
const concept = (...codes: string[]) => ({ coding: codes.map((code) => ({ system: X, code })) });
const record: Rec[] = [
  obs('1', concept('a1')),
  obs('2', concept('b')),
  obs('3', concept('b', 'AP7 ')),
  obs('4', { coding: [{ system: ` ${X}`, code: 'a1' }] }),
  obs('5', undefined),
  obs('6', { coding: [{ code: 'a1' }] }),
  obs('7', { system: X, code: 'a1' }),
  obs('8', [concept('a1')]),
  obs('9', 'a1'),
  { resourceType: 'Patient', id: 'p' },
];

function ids(items: unknown[]): unknown[] {
  return items.map((i) => (typeof i === 'object' && i !== null ? (i as Rec)['id'] : i));
}

describe('coded()', () => {
  test('selects what where(code.inValueSet()) selects, in the same order, through the record index', () => {
    const env = environment({
      order: { resourceType: 'ServiceRequest', id: 'o', subject: { reference: 'Patient/p' } },
      resources: record as unknown as fhir4.Resource[],
      patientId: 'p',
      evaluationDate: '2026-12-01',
      unavailableData: [],
    });
    const all = { ...env.vars, everything: record };
    for (const name of ['observations', 'everything']) {
      const expected = ids(run(`%${name}.where(code.inValueSet('a'))`, all, env.bundle));
      expect(ids(run(`%${name}.coded('a')`, all, env.bundle))).toEqual(expected);
      expect(expected).toEqual(['1', '3', '4', '7', '8']);
    }
  });

  test('without an index, and on items that are not resources', () => {
    const items = [...record, concept('a1'), { code: concept('a1') }, 'a1', 3];
    const expected = ids(run("%items.where(code.inValueSet('a'))", { items }));
    expect(ids(run("%items.coded('a')", { items }))).toEqual(expected);
    expect(run("%none.coded('a')", { none: [] })).toEqual([]);
  });

  test('keeps the FHIRPath type of its items (a later ofType or member access works)', () => {
    const vars = { items: record };
    expect(run("%items.coded('a').ofType(Observation).id", vars)).toEqual(
      run("%items.where(code.inValueSet('a')).ofType(Observation).id", vars),
    );
  });
});
