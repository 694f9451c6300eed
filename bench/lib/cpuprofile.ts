/** Reading a V8 .cpuprofile (node --cpu-prof): self and inclusive time per function and per module. */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './service.js';

const ROOT_URL = pathToFileURL(REPO_ROOT).href.replace(/\/?$/, '/');

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  /** µs on the monotonic clock (CLOCK_MONOTONIC, as process.hrtime) */
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  readonly fn: string;
  readonly where: string;
  readonly selfMs: number;
  readonly selfShare: number;
  readonly totalMs: number;
  readonly totalShare: number;
}

export interface ProfileSummary {
  /** sampled time outside (idle) */
  readonly busyMs: number;
  readonly functions: FunctionTime[];
  readonly modules: { module: string; selfMs: number; selfShare: number }[];
}

/** file:///…/node_modules/fhirpath/src/x.js → fhirpath/src/x.js; …/src/rules/policy.ts → src/rules/policy.ts */
export function shortUrl(url: string): string {
  if (url === '') return '';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  return url.startsWith(ROOT_URL) ? url.slice(ROOT_URL.length) : url.replace(/^file:\/\//, '');
}

/** The module a frame belongs to: a package name, a src/ folder's file, node: internals or a V8 pseudo-frame. */
export function moduleOf(frame: CallFrame): string {
  const s = shortUrl(frame.url);
  if (s === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  if (s.startsWith('node:')) return 'node: internals';
  if (s.startsWith('src/') || s.startsWith('dist/')) return s;
  const parts = s.split('/');
  return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? s);
}

const keyOf = (f: CallFrame): string => `${f.functionName || '(anonymous)'}\t${shortUrl(f.url)}:${f.lineNumber + 1}`;

interface Sample {
  readonly frame: CallFrame;
  readonly us: number;
  /** the frames from the sampled one up to the root */
  readonly stack: readonly CallFrame[];
}

/**
 * Every non-idle sample of a profile with its duration and stack; with `fromUs` (process.hrtime in µs, the same
 * monotonic clock as the profile's timestamps), only the samples taken from then on (start-up left out).
 */
function samples(file: string, fromUs = 0): Sample[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  let at = p.startTime;
  const taken = p.timeDeltas.map((d) => (at += d));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  return p.samples.flatMap((id, i): Sample[] => {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === '(idle)' || (taken[i] ?? 0) < fromUs) return [];
    const stack: CallFrame[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur))
      stack.push(byId.get(cur)!.callFrame);
    return [{ frame: node.callFrame, us: p.timeDeltas[i] ?? 0, stack }];
  });
}

const add = (m: Map<string, number>, k: string, us: number): void => {
  m.set(k, (m.get(k) ?? 0) + us);
};

interface Times {
  readonly busyUs: number;
  readonly self: Map<string, number>;
  /** inclusive time, counted once per sample even under recursion */
  readonly total: Map<string, number>;
  readonly modules: Map<string, number>;
}

function times(file: string, fromUs: number, include: (f: CallFrame) => boolean = () => true): Times {
  const t: Times = { busyUs: 0, self: new Map(), total: new Map(), modules: new Map() };
  let busyUs = 0;
  for (const s of samples(file, fromUs)) {
    busyUs += s.us;
    add(t.self, keyOf(s.frame), s.us);
    add(t.modules, moduleOf(s.frame), s.us);
    const keys = new Set(s.stack.filter(include).map(keyOf));
    for (const k of keys) add(t.total, k, s.us);
  }
  return { ...t, busyUs };
}

function toFunctionTimes(entries: [string, number][], t: Times): FunctionTime[] {
  return entries.map(([k]) => {
    const [fn = '', where = ''] = k.split('\t');
    const self = t.self.get(k) ?? 0;
    const total = t.total.get(k) ?? self;
    return {
      fn,
      where,
      selfMs: self / 1000,
      selfShare: self / t.busyUs,
      totalMs: total / 1000,
      totalShare: total / t.busyUs,
    };
  });
}

const largest = (m: Map<string, number>, top: number): [string, number][] =>
  [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);

export function summarize(file: string, top = 20, fromUs = 0): ProfileSummary {
  const t = times(file, fromUs);
  return {
    busyMs: t.busyUs / 1000,
    functions: toFunctionTimes(largest(t.self, top), t),
    modules: largest(t.modules, top).map(([module, us]) => ({ module, selfMs: us / 1000, selfShare: us / t.busyUs })),
  };
}

/** Inclusive time of the functions defined in files matching `pattern` (e.g. /^src\//), largest first. */
export function inclusiveIn(file: string, pattern: RegExp, top = 15, fromUs = 0): FunctionTime[] {
  const t = times(file, fromUs, (f) => pattern.test(shortUrl(f.url)));
  return toFunctionTimes(largest(t.total, top), t);
}
