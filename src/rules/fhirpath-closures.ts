import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';

/**
 * A closure compiler for the small subset of FHIRPath our policies mostly use, built from fhirpath.js's syntax tree
 * at load. fhirpath.js walks its tree, clones its context and wraps every value on every call; the closures read the
 * JSON directly. They follow fhirpath.js 5.2's semantics for R4 (member navigation with its model's choice types,
 * where()'s truthiness, iif()'s isTrue, and/or's empty propagation) and stand aside whenever a value is outside
 * what they were proven on: `compileClosure` returns undefined for an expression that uses anything else, and a
 * compiled expression throws `DECLINED` at run time for data it does not handle (primitive extensions, numbers,
 * partial dates, content-equal duplicates in a union, ...); the caller then evaluates the expression with
 * fhirpath.js. test/fhirpath-closures.test.ts runs both on every compiled expression for every scenario.
 */

/** Thrown (one instance, made once) when a closure stands aside for fhirpath.js. */
export const DECLINED = new Error('closure declined');

/** A user function as given to fhirpath.js (rules/fhirpath-functions.ts). */
export interface UserFunction {
  fn: (this: unknown, inputs: unknown[], ...params: never[]) => unknown[];
  readonly arity: Readonly<Record<number, readonly string[]>>;
  readonly internalStructures?: boolean;
}

export type Scope = Readonly<Record<string, unknown>>;

/** Evaluates the expression on the environment's variables; throws DECLINED when fhirpath.js must decide. */
export type Closure = (scope: Scope) => unknown[];

interface SyntaxNode {
  readonly type: string;
  readonly text?: string;
  readonly terminalNodeText?: readonly string[];
  readonly children?: readonly SyntaxNode[];
  /** A QuantityLiteral's number and unit. */
  readonly value?: unknown;
  readonly unit?: unknown;
}

interface Model {
  readonly choiceTypePaths: Readonly<Record<string, readonly string[]>>;
  readonly pathsDefinedElsewhere: Readonly<Record<string, string>>;
  readonly path2Type: Readonly<Record<string, string>>;
  readonly path2TypeWithoutElements: Readonly<Record<string, string>>;
  readonly type2Parent: Readonly<Record<string, string>>;
}

const model = r4 as unknown as Model;

/** A value reached by member navigation, with the path and FHIR type fhirpath.js would give its ResourceNode. */
class Element {
  constructor(
    readonly data: unknown,
    readonly path: string | null,
    readonly type: string | null,
  ) {}
}

/** A FHIRPath Date of day precision (the only precision the closures handle), as `YYYY-MM-DD`. */
class Day {
  constructor(readonly iso: string) {}
}

/** A number literal: fhirpath.js makes it an FP_Decimal object (truthy in where(), not a JSON number to functions). */
class Literal {
  constructor(readonly value: number) {}
}

/** A number to compare: a literal's value or a JSON number (what functions return). */
const numberOf = (v: Value): number | undefined =>
  v instanceof Literal ? v.value : typeof v === 'number' ? v : undefined;

type Value = unknown;
/** A compiled sub-expression: its input collection ($this, or the root) in, a collection out. */
type Step = (input: readonly Value[], scope: Scope) => Value[];

function decline(): never {
  throw DECLINED;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const FULL_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function dayOf(text: unknown): Day {
  if (typeof text !== 'string') return decline();
  const m = FULL_DATE.exec(text);
  if (!m) return decline();
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (y < 1 || date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) decline();
  return new Day(text);
}

const STRING_TYPES = new Set([
  'System.String',
  'string',
  'code',
  'id',
  'uri',
  'url',
  'canonical',
  'markdown',
  'oid',
  'uuid',
]);
const DATE_TYPES = new Set(['date', 'dateTime']);

/** The items of a %variable as fhirpath.js's ExternalConstantTerm hands them on. */
function entryItems(value: unknown): Value[] {
  if (value === undefined || value === null) return [];
  const list: unknown[] = Array.isArray(value) ? value : [value];
  return list.map((item) => {
    if (Array.isArray(item) || item === null || item === undefined) return decline();
    if (!isRecord(item)) return item;
    if (item['resourceType'] !== undefined) {
      if (typeof item['resourceType'] !== 'string') decline();
      return item;
    }
    const meta = (item as { __path__?: { path?: unknown; fhirNodeDataType?: unknown } }).__path__;
    if (meta === undefined) return item;
    return new Element(
      item,
      typeof meta.path === 'string' ? meta.path : null,
      typeof meta.fhirNodeDataType === 'string' ? meta.fhirNodeDataType : null,
    );
  });
}

/** `item.key` as fhirpath.js's MemberInvocation and makeChildResNodes give it (R4 model). */
function navigate(items: readonly Value[], key: string): Value[] {
  const out: Value[] = [];
  for (const item of items) {
    let data: Record<string, unknown>;
    let path: string | null;
    if (item instanceof Element) {
      if (!isRecord(item.data)) return decline();
      data = item.data;
      path = item.path;
    } else if (isRecord(item)) {
      data = item;
      path = typeof item['resourceType'] === 'string' ? item['resourceType'] : null;
    } else return decline();
    let childPath: string | null = null;
    let type: string | null = null;
    let field = key;
    if (path) {
      childPath = `${path}.${key}`;
      childPath = model.pathsDefinedElsewhere[childPath] ?? childPath;
      const choices = model.choiceTypePaths[childPath];
      if (choices) {
        for (const t of choices) {
          if (data[key + t] !== undefined || data[`_${key}${t}`] !== undefined) {
            field = key + t;
            childPath += t;
            break;
          }
        }
        if (field === key) continue;
      } else if (key === 'extension') childPath = 'Extension';
      type = model.path2Type[childPath] ?? null;
      childPath = model.path2TypeWithoutElements[childPath] ?? childPath;
    }
    if (data[`_${field}`] !== undefined) return decline();
    const value = data[field];
    if (value === undefined || value === null) continue;
    if (type === 'integer64') return decline();
    const values: unknown[] = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (v === undefined || v === null || typeof v === 'number' || Array.isArray(v)) return decline();
      if (isRecord(v) && v['resourceType'] !== undefined) return decline();
      out.push(new Element(v, childPath, type));
    }
  }
  return out;
}

/** The JSON value fhirpath.js hands a user function (`util.valData`). */
const dataOf = (v: Value): unknown =>
  v instanceof Element ? v.data : v instanceof Day || v instanceof Literal ? decline() : v;

/** fhirpath.js's where(): `condition[0] ? x : []`, where its values are ResourceNodes, FP types or primitives. */
const truthy = (v: Value): boolean =>
  v instanceof Element || v instanceof Day || v instanceof Literal ? true : Boolean(v);

/** fhirpath.js's util.isTrue. */
const isTrue = (c: readonly Value[]): boolean =>
  c.length === 1 && (c[0] instanceof Element ? c[0].data : c[0]) === true;

/** A Boolean operand as fhirpath.js's singleton('Boolean') gives it to and/or: [] or a boolean. */
function booleanOperand(c: readonly Value[]): boolean | undefined {
  if (c.length === 0) return undefined;
  if (c.length === 1 && typeof c[0] === 'boolean') return c[0];
  return decline();
}

/** The one item of a collection, undefined when it is empty (items are never undefined: entryItems). */
const single = (c: readonly Value[]): unknown => (c.length === 0 ? undefined : c.length === 1 ? c[0] : decline());

function stringOf(v: Value): string {
  if (typeof v === 'string') return v;
  if (v instanceof Element && typeof v.data === 'string' && v.type !== null && STRING_TYPES.has(v.type)) return v.data;
  return decline();
}

/**
 * fhirpath.js's union (`|`): resources are distinct when their Type/id differ, strings when their values do; one
 * element object (a CodeableConcept, a Reference) is distinct from all of these. Anything else (two element objects
 * that may be content-equal, numbers, primitive elements) declines.
 */
function union(a: readonly Value[], b: readonly Value[]): Value[] {
  const out: Value[] = [];
  const seen = new Map<string, unknown>();
  let element: Element | undefined;
  for (const v of [...a, ...b]) {
    if (v instanceof Element) {
      if (!isRecord(v.data) || (element !== undefined && element.data !== v.data)) return decline();
      if (element === undefined) out.push((element = v));
      continue;
    }
    let key: string;
    if (typeof v === 'string') key = `s${v}`;
    else if (isRecord(v) && typeof v['resourceType'] === 'string' && typeof v['id'] === 'string')
      key = `r${v['resourceType']}/${v['id']}`;
    else return decline();
    const before = seen.get(key);
    if (before === undefined) {
      seen.set(key, v);
      out.push(v);
    } else if (before !== v) decline();
  }
  return out;
}

const resourceKey = (v: Value): string =>
  isRecord(v) && typeof v['resourceType'] === 'string' && typeof v['id'] === 'string'
    ? `${v['resourceType']}/${v['id']}`
    : decline();

/** fhirpath.js's intersect() for resources: the distinct items of `a` found in `b`, in `a`'s order. */
function intersect(a: readonly Value[], b: readonly Value[]): Value[] {
  const other = new Map<string, Value>();
  for (const v of b) {
    const key = resourceKey(v);
    const before = other.get(key);
    if (before !== undefined && before !== v) decline();
    other.set(key, v);
  }
  const seen = new Map<string, Value>();
  const out: Value[] = [];
  for (const v of a) {
    const key = resourceKey(v);
    const before = seen.get(key);
    if (before !== undefined) {
      if (before !== v) decline();
      continue;
    }
    seen.set(key, v);
    const match = other.get(key);
    if (match === undefined) continue;
    if (match !== v) decline();
    out.push(v);
  }
  return out;
}

/**
 * fhirpath.js compares numbers at a precision of 1e-8 (4.0000000001 <= 4 is true): numbers this close are left to
 * it; farther apart, its order is the plain one.
 */
function tooClose(x: number, y: number): boolean {
  if (!Number.isFinite(x) || !Number.isFinite(y)) return true;
  return Math.abs(x - y) <= 1e-6 * Math.max(1, Math.abs(x), Math.abs(y));
}

/** fhirpath.js's `=` on two numbers. */
function numbersEqual(x: number, y: number): boolean {
  if (x === y) return true;
  return tooClose(x, y) ? decline() : false;
}

const COMPARE: Readonly<Record<string, (x: number) => boolean>> = {
  '<': (x) => x < 0,
  '<=': (x) => x <= 0,
  '>': (x) => x > 0,
  '>=': (x) => x >= 0,
};

function compare(op: (x: number) => boolean, a: readonly Value[], b: readonly Value[]): Value[] {
  const x = single(a);
  const y = single(b);
  if (x === undefined || y === undefined) return [];
  if (x instanceof Day && y instanceof Day) return [op(x.iso < y.iso ? -1 : x.iso > y.iso ? 1 : 0)];
  const [p, q] = [numberOf(x), numberOf(y)];
  if (p !== undefined && q !== undefined) {
    if (p !== q && tooClose(p, q)) return decline();
    return Number.isFinite(p) && Number.isFinite(q) ? [op(p < q ? -1 : p > q ? 1 : 0)] : decline();
  }
  return decline();
}

const CALENDAR_UNITS = new Set(['year', 'years', 'month', 'months', 'week', 'weeks', 'day', 'days']);

type DayShift = (day: Day) => Day;

/**
 * Date arithmetic is fhirpath.js's own: one expression per (operation, duration), compiled with the closure, and
 * its results memoized per day (bounded).
 */
function dayShift(op: string, amount: string): DayShift {
  const shift = fhirpath.compile(`%origin.toDate() ${op} ${amount}`, r4);
  const results = new Map<string, Day>();
  return (day) => {
    let result = results.get(day.iso);
    if (!result) {
      const out = shift({}, { origin: day.iso }) as unknown[];
      if (out.length !== 1) return decline();
      result = dayOf(out[0]);
      if (results.size > 10_000) results.clear();
      results.set(day.iso, result);
    }
    return result;
  };
}

const child = (n: SyntaxNode, i: number): SyntaxNode | undefined => n.children?.[i];
const childOfType = (n: SyntaxNode | undefined, type: string): SyntaxNode | undefined =>
  n?.children?.find((c) => c.type === type);

/** Why an expression is not compiled; it stays on fhirpath.js. */
class Unsupported extends Error {}

function unsupported(what: string): never {
  throw new Unsupported(what);
}

interface Context {
  readonly functions: Readonly<Record<string, UserFunction>>;
  /** Inside a where() criterion $this is an item; at the top (and in a top-level iif) it is the Bundle. */
  readonly item: boolean;
}

function stringLiteral(n: SyntaxNode | undefined): string {
  const text = childOfType(childOfType(n, 'LiteralTerm'), 'StringLiteral')?.text;
  if (text === undefined || n?.type !== 'TermExpression') return unsupported('not a string literal');
  if (!/^'[^'\\]*'$/.test(text)) return unsupported('escaped string literal');
  return text.slice(1, -1);
}

function params(n: SyntaxNode): readonly SyntaxNode[] {
  return childOfType(n, 'ParamList')?.children ?? [];
}

/** A type specifier argument (`ofType(Quantity)`): a bare identifier. */
function typeName(n: SyntaxNode | undefined): string {
  const member = childOfType(childOfType(n, 'InvocationTerm'), 'MemberInvocation');
  const name = childOfType(member, 'Identifier')?.text;
  if (n?.type !== 'TermExpression' || name === undefined) return unsupported('type specifier');
  return name;
}

const OF_TYPES = new Set(['Quantity', 'CodeableConcept', 'dateTime']);

function isSubtypeOf(type: string, ancestor: string): boolean {
  for (let t = model.type2Parent[type]; t !== undefined; t = model.type2Parent[t]) if (t === ancestor) return true;
  return false;
}

function functionStep(n: SyntaxNode, ctx: Context): (input: readonly Value[], scope: Scope, base: Value[]) => Value[] {
  const name = childOfType(n, 'Identifier')?.text ?? unsupported('function name');
  const args = params(n);
  const arity = (k: number): void => {
    if (args.length !== k) unsupported(`${name} with ${args.length} arguments`);
  };
  switch (name) {
    case 'where': {
      arity(1);
      const criterion = compileNode(args[0], { ...ctx, item: true });
      return (_input, scope, base) => base.filter((x) => truthy(criterion([x], scope)[0]));
    }
    case 'exists':
      arity(0);
      return (_i, _s, base) => [base.length > 0];
    case 'empty':
      arity(0);
      return (_i, _s, base) => [base.length === 0];
    case 'count':
      arity(0);
      return (_i, _s, base) => [base.length];
    case 'not':
      arity(0);
      return (_i, _s, base) => {
        const b = booleanOperand(base);
        return b === undefined ? [] : [!b];
      };
    case 'toDate':
      arity(0);
      return (_i, _s, base) => {
        const v = single(base);
        if (v === undefined) return [];
        if (typeof v === 'string') return [dayOf(v)];
        if (v instanceof Element && v.type !== null && DATE_TYPES.has(v.type)) return [dayOf(v.data)];
        return decline();
      };
    case 'ofType': {
      arity(1);
      const type = typeName(args[0]);
      if (!OF_TYPES.has(type)) unsupported(`ofType(${type})`);
      return (_i, _s, base) =>
        base.filter((v) => {
          if (!(v instanceof Element) || v.type === null) return decline();
          if (v.type === type) return true;
          if (isSubtypeOf(v.type, type)) decline();
          return false;
        });
    }
    case 'all': {
      arity(1);
      const criterion = compileNode(args[0], { ...ctx, item: true });
      return (_input, scope, base) => [base.every((x) => isTrue(criterion([x], scope)))];
    }
    case 'combine': {
      arity(1);
      // fhirpath.js evaluates combine()'s argument from $this (AnyAtRoot), as a union's operands
      const other = compileNode(args[0], ctx);
      return (input, scope, base) => [...base, ...other(input, scope)];
    }
    case 'intersect': {
      arity(1);
      const other = compileNode(args[0], ctx);
      return (input, scope, base) => intersect(base, other(input, scope));
    }
    case 'max':
    case 'min': {
      arity(0);
      const better = name === 'max' ? (x: number, y: number) => x > y : (x: number, y: number) => x < y;
      return (_i, _s, base) => {
        let best: number | undefined;
        for (const v of base) {
          if (typeof v !== 'number' || !Number.isFinite(v)) return decline();
          if (best !== undefined && v !== best && tooClose(v, best)) return decline();
          if (best === undefined || better(v, best)) best = v;
        }
        return best === undefined ? [] : [best];
      };
    }
    case 'lower':
      arity(0);
      return (_i, _s, base) => {
        const v = single(base);
        return v === undefined ? [] : [stringOf(v).toLowerCase()];
      };
    case 'matches': {
      arity(1);
      // fhirpath.js: new RegExp(regex, 'us') (dotAll, unicode) for a pattern without flags
      let pattern: RegExp;
      try {
        pattern = new RegExp(stringLiteral(args[0]), 'us');
      } catch {
        return unsupported('regular expression');
      }
      return (_i, _s, base) => {
        const v = single(base);
        return v === undefined ? [] : [pattern.test(stringOf(v))];
      };
    }
    case 'startsWith': {
      arity(1);
      // an argument that cannot read the input (a %name or a literal)
      const prefix = compileNode(args[0], { ...ctx, item: false });
      return (input, scope, base) => {
        const p = single(prefix(input, scope));
        const v = single(base);
        return p === undefined || v === undefined ? [] : [stringOf(v).startsWith(stringOf(p))];
      };
    }
    case 'iif': {
      if (args.length !== 2 && args.length !== 3) unsupported('iif arity');
      const [c, a, b] = args.map((p) => compileNode(p, ctx));
      if (!c || !a) return unsupported('iif');
      return (input, scope, base) => {
        if (base.length > 1) decline();
        return isTrue(c(base, scope)) ? a(base, scope) : b ? b(base, scope) : [];
      };
    }
    default: {
      // Own properties only: `toString` and the like are every object's, not the policy's functions.
      const user = Object.hasOwn(ctx.functions, name) ? ctx.functions[name] : undefined;
      if (!user) return unsupported(`function ${name}`);
      const types = user.arity[args.length];
      if (!types || types.some((t) => t !== 'String')) unsupported(`${name} arity`);
      const literals = args.map(stringLiteral);
      const fn = user.fn as (this: unknown, inputs: unknown[], ...params: string[]) => unknown[];
      if (user.internalStructures)
        return (_i, scope, base) => {
          for (const v of base) if (isRecord(v) && 'data' in v) decline();
          return fn.call({ vars: scope }, base, ...literals);
        };
      return (_i, _s, base) => fn.call(undefined, base.map(dataOf), ...literals);
    }
  }
}

function compileNode(n: SyntaxNode | undefined, ctx: Context): Step {
  if (!n) return unsupported('missing node');
  switch (n.type) {
    case 'EntireExpression':
    case 'TermExpression':
    case 'LiteralTerm':
    case 'ExternalConstantTerm':
    case 'ParenthesizedTerm':
      if (n.children?.length !== 1) return unsupported(n.type);
      return compileNode(child(n, 0), ctx);
    case 'ExternalConstant': {
      const id = child(n, 0);
      if (id?.type !== 'Identifier' || id.text === undefined || !/^[A-Za-z]\w*$/.test(id.text))
        return unsupported('%name');
      const name = id.text;
      return (_input, scope) => (name in scope ? entryItems(scope[name]) : decline());
    }
    case 'StringLiteral': {
      const text = n.text ?? '';
      if (!/^'[^'\\]*'$/.test(text)) return unsupported('escaped string literal');
      const value = text.slice(1, -1);
      return () => [value];
    }
    case 'NumberLiteral': {
      if (!/^\d{1,9}$/.test(n.text ?? '')) return unsupported('number literal');
      const value = new Literal(Number(n.text));
      return () => [value];
    }
    case 'BooleanLiteral': {
      const value = n.text === 'true';
      if (n.text !== 'true' && n.text !== 'false') return unsupported('boolean literal');
      return () => [value];
    }
    case 'NullLiteral':
      return () => [];
    case 'InvocationTerm': {
      const inner = child(n, 0);
      if (inner?.type === 'FunctionInvocation') {
        const fnNode = childOfType(inner, 'Functn') ?? unsupported('Functn');
        // at the top, $this is the Bundle: only iif(), which reads no member of it
        if (!ctx.item && childOfType(fnNode, 'Identifier')?.text !== 'iif') return unsupported('function of the root');
        const fn = functionStep(fnNode, ctx);
        return (input, scope) => fn(input, scope, [...input]);
      }
      if (!ctx.item) return unsupported('navigation from the root');
      if (inner?.type === 'MemberInvocation') return memberStep(inner, (input) => [...input]);
      return unsupported(`invocation ${inner?.type ?? ''}`);
    }
    case 'InvocationExpression': {
      const base = compileNode(child(n, 0), ctx);
      const inv = child(n, 1);
      if (inv?.type === 'MemberInvocation') return memberStep(inv, base);
      if (inv?.type === 'FunctionInvocation') {
        const fnNode = childOfType(inv, 'Functn') ?? unsupported('Functn');
        const name = childOfType(fnNode, 'Identifier')?.text;
        if (name === 'iif') return unsupported('iif on a collection');
        const fn = functionStep(fnNode, ctx);
        return (input, scope) => fn(input, scope, base(input, scope));
      }
      return unsupported(`invocation ${inv?.type ?? ''}`);
    }
    case 'UnionExpression': {
      const [a, b] = binary(n, ctx);
      return (input, scope) => union(a(input, scope), b(input, scope));
    }
    case 'AndExpression':
    case 'OrExpression': {
      // The parser files `xor` (and `implies`) under these node types too: only `and` and `or` are compiled.
      const op = operator(n);
      if (op !== 'and' && op !== 'or') return unsupported(`operator ${op}`);
      const [a, b] = binary(n, ctx);
      const and = op === 'and';
      return (input, scope) => {
        const x = booleanOperand(a(input, scope));
        const y = booleanOperand(b(input, scope));
        if (and) {
          if (x === false || y === false) return [false];
          return x === true && y === true ? [true] : [];
        }
        if (x === true || y === true) return [true];
        return x === false && y === false ? [false] : [];
      };
    }
    case 'EqualityExpression': {
      if (operator(n) !== '=') return unsupported(`equality ${operator(n)}`);
      const [a, b] = binary(n, ctx);
      return (input, scope) => {
        const x = single(a(input, scope));
        const y = single(b(input, scope));
        if (x === undefined || y === undefined) return [];
        const [p, q] = [numberOf(x), numberOf(y)];
        if (p !== undefined && q !== undefined) return [numbersEqual(p, q)];
        return [stringOf(x) === stringOf(y)];
      };
    }
    case 'MembershipExpression': {
      if (operator(n) !== 'in') return unsupported(`membership ${operator(n)}`);
      const [a, b] = binary(n, ctx);
      return (input, scope) => {
        const x = single(a(input, scope));
        const list = b(input, scope);
        if (x === undefined) return [];
        if (list.length === 0) return [false];
        if (typeof x !== 'string' || list.some((v) => typeof v !== 'string')) return decline();
        return [list.includes(x)];
      };
    }
    case 'InequalityExpression': {
      const op = COMPARE[operator(n)] ?? unsupported(`comparison ${operator(n)}`);
      const [a, b] = binary(n, ctx);
      return (input, scope) => compare(op, a(input, scope), b(input, scope));
    }
    case 'AdditiveExpression': {
      const op = operator(n);
      if (op !== '-' && op !== '+') return unsupported(`additive ${op}`);
      const left = compileNode(child(n, 0), ctx);
      const shift = dayShift(op, calendarQuantity(child(n, 1)));
      return (input, scope) => {
        const d = single(left(input, scope));
        if (d === undefined) return [];
        if (!(d instanceof Day)) return decline();
        return [shift(d)];
      };
    }
    default:
      return unsupported(n.type);
  }
}

function operator(n: SyntaxNode): string {
  return n.terminalNodeText?.[0] ?? n.text ?? '';
}

function binary(n: SyntaxNode, ctx: Context): [Step, Step] {
  if (n.children?.length !== 2) return unsupported(`${n.type} arity`);
  return [compileNode(child(n, 0), ctx), compileNode(child(n, 1), ctx)];
}

/** `6 months`: an integer and a calendar duration word, the only quantities the closures add to dates. */
function calendarQuantity(n: SyntaxNode | undefined): string {
  const literal = childOfType(childOfType(n, 'LiteralTerm'), 'QuantityLiteral');
  const number = typeof literal?.value === 'string' ? literal.value : undefined;
  const unit = typeof literal?.unit === 'string' ? literal.unit : undefined;
  if (number === undefined || unit === undefined || !/^\d{1,4}$/.test(number) || !CALENDAR_UNITS.has(unit))
    return unsupported('quantity');
  return `${number} ${unit}`;
}

function memberStep(n: SyntaxNode, base: Step): Step {
  const key = childOfType(n, 'Identifier')?.text;
  if (key === undefined || !/^[a-z][A-Za-z0-9]*$/.test(key)) return unsupported('member');
  return (input, scope) => navigate(base(input, scope), key);
}

/**
 * The JSON result fhirpath.js returns (resolveInternalTypes), or DECLINED when it would differ in form. fhirpath.js
 * marks a returned element with a hidden __path__ that it reads when the value comes back as a %name: a definition
 * returning one unmarked declines; a criterion's result (`leaf`) is read by the engine only, never by FHIRPath.
 */
function resultOf(items: readonly Value[], leaf: boolean): unknown[] {
  const out: unknown[] = [];
  for (const v of items) {
    if (v instanceof Day) return decline();
    if (v instanceof Literal) out.push(v.value);
    else if (v instanceof Element) {
      if (!leaf && isRecord(v.data) && !('__path__' in v.data)) return decline();
      out.push(v.data);
    } else if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

/** Functions whose result holds no element reached by navigation (values, raw JSON, or the function's own). */
const VALUE_FUNCTIONS = new Set([
  'exists',
  'empty',
  'count',
  'not',
  'toDate',
  'all',
  'max',
  'min',
  'lower',
  'startsWith',
  'inValueSet',
  'valueIn',
  'latest',
  'earliest',
  'clinicalDate',
]);

/**
 * Whether the expression may return elements reached by navigation (a CodeableConcept, a Reference...): fhirpath.js
 * marks those with a hidden __path__ the closures cannot give, so such an expression stays on fhirpath.js rather
 * than being declined on every call.
 */
function yieldsElements(n: SyntaxNode | undefined): boolean {
  if (!n) return false;
  switch (n.type) {
    case 'InvocationExpression': {
      const inv = child(n, 1);
      if (inv?.type === 'MemberInvocation') return true;
      const fnNode = childOfType(inv, 'Functn');
      const name = childOfType(fnNode, 'Identifier')?.text ?? '';
      if (VALUE_FUNCTIONS.has(name)) return false;
      const combined = name === 'combine' && params(fnNode ?? { type: '' }).some(yieldsElements);
      return combined || yieldsElements(child(n, 0));
    }
    case 'InvocationTerm': {
      const inner = child(n, 0);
      if (inner?.type === 'MemberInvocation') return true;
      const fnNode = childOfType(inner, 'Functn');
      const name = childOfType(fnNode, 'Identifier')?.text ?? '';
      if (name === 'iif')
        return params(fnNode ?? { type: '' })
          .slice(1)
          .some(yieldsElements);
      return !VALUE_FUNCTIONS.has(name);
    }
    case 'UnionExpression':
    case 'EntireExpression':
    case 'TermExpression':
    case 'ParenthesizedTerm':
      return (n.children ?? []).some(yieldsElements);
    default:
      return false;
  }
}

/**
 * The closure for an expression, or undefined when it uses something outside the subset. `leaf`: a criterion's
 * `met` / `notMet`, whose result only the engine reads (a definition's comes back into FHIRPath as a %name).
 */
export function compileClosure(
  source: string,
  functions: Readonly<Record<string, UserFunction>>,
  { leaf = false }: { leaf?: boolean } = {},
): Closure | undefined {
  let step: Step;
  try {
    const tree = fhirpath.parse(source) as SyntaxNode;
    if (!leaf && yieldsElements(tree)) return undefined;
    step = compileNode(tree, { functions, item: false });
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
  // stands for the Bundle fhirpath.js starts from; nothing compiled reads it
  const root: readonly Value[] = [Object.freeze({ resourceType: 'Bundle' })];
  return (scope) => resultOf(step(root, scope), leaf);
}
