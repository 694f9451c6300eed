import fc from 'fast-check';
import type { Express } from 'express';
import request from 'supertest';
import { hookResponseSchema } from '../../src/crd/hook-response.js';

/**
 * Fuzzing the order-sign endpoint: valid requests mutated at random paths (wrong types, removed and extra
 * fields, huge strings, deep nesting, unicode, numbers as strings, invalid FHIR) and random bytes. The property:
 * every answer is a 2xx or 4xx with a valid body; never a 5xx.
 */

type Json = unknown;

function paths(value: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (prefix.length > 7 || typeof value !== 'object' || value === null) return out;
  for (const [k, v] of Object.entries(value)) paths(v, [...prefix, Array.isArray(value) ? Number(k) : k], out);
  return out;
}

function deep(levels: number): Json {
  let v: Json = 'bottom';
  for (let i = 0; i < levels; i += 1) v = i % 2 ? [v] : { a: v };
  return v;
}

const strangeValue: fc.Arbitrary<Json> = fc.oneof(
  fc.anything(),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.string({ minLength: 10_000, maxLength: 60_000 }),
  fc.integer().map(String),
  fc.double().map(String),
  fc.constantFrom(null, true, 0, -1, 1e308, '', [], {}, 'Patient/', '..', '\u0000', '\ud800', '__proto__'),
  fc.integer({ min: 10, max: 1500 }).map(deep),
  fc.constantFrom(
    { resourceType: 'OperationOutcome' },
    { resourceType: 'Bundle', entry: 'no' },
    { resourceType: 42 },
    { resourceType: 'Bundle', entry: [{}] },
  ),
);

/** Applies one mutation in place (the caller owns `copy`), returning the possibly replaced root. */
function mutate(copy: Json, path: (string | number)[], op: 'set' | 'delete' | 'add', value: Json): Json {
  if (path.length === 0) return op === 'set' ? value : copy;
  let parent: any = copy;
  for (const step of path.slice(0, -1)) parent = parent?.[step];
  const last = path.at(-1)!;
  if (typeof parent !== 'object' || parent === null) return copy;
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- the fuzzer removes whatever member the path names
  if (op === 'delete') delete parent[last];
  else if (op === 'add') parent[`x-${String(last)}`] = value;
  else parent[last] = value;
  return copy;
}

export function mutatedBodies(base: Json): fc.Arbitrary<string | Buffer> {
  const all = paths(base);
  const mutation = fc.record({
    path: fc.constantFrom(...all),
    op: fc.constantFrom<'set' | 'delete' | 'add'>('set', 'delete', 'add'),
    value: strangeValue,
  });
  return fc.oneof(
    {
      weight: 8,
      arbitrary: fc
        .array(mutation, { minLength: 1, maxLength: 4 })
        .map((ms) => JSON.stringify(ms.reduce((b, m) => mutate(b, m.path, m.op, m.value), structuredClone(base)))),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 300 }) },
  );
}

export interface FuzzAnswer {
  status: number;
  ms: number;
  problem?: string;
}

export async function sendFuzzed(app: Express, path: string, body: string | Buffer): Promise<FuzzAnswer> {
  const started = performance.now();
  const res = await request(app).post(path).set('Content-Type', 'application/json').send(body);
  const ms = performance.now() - started;
  if (res.status >= 500) return { status: res.status, ms, problem: `HTTP ${res.status}: ${res.text.slice(0, 200)}` };
  if (res.status === 200) {
    const parsed = hookResponseSchema.safeParse(res.body);
    if (!parsed.success)
      return { status: 200, ms, problem: `invalid 200 body: ${JSON.stringify(parsed.error.issues[0])}` };
  } else if (res.body?.resourceType !== 'OperationOutcome') {
    return { status: res.status, ms, problem: `a ${res.status} without an OperationOutcome` };
  }
  return { status: res.status, ms };
}
