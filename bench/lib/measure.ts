/** One target measured: saturation at fixed concurrency, then a fixed rate at a share of it; CPU and RSS. */
import { runPhase, type PhaseResult } from './load.js';
import type { ProbeReply } from './probe-protocol.js';
import { percentile } from './stats.js';
import type { BenchContext, Running } from './targets.js';
import { signTokens, TokenPool } from './tokens.js';

export interface MeasureOptions {
  readonly connections: number;
  readonly seconds: number;
  /** share of the measured saturation used for the fixed-rate phase */
  readonly rateShare: number;
}

export interface TargetResult {
  readonly saturation: PhaseResult;
  readonly rate: PhaseResult & { readonly target: number };
  /** server CPU time (user + system) per answered request in the saturation phase, ms */
  readonly cpuMsPerRequest: number;
  readonly peakRssMb: number;
}

export type Check = (status: number, answer: unknown) => string | undefined;

async function post(
  url: string,
  token: string,
  body: string,
): Promise<{ status: number; ms: number; answer: unknown }> {
  const t = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body,
  });
  const text = await res.text();
  const ms = performance.now() - t;
  let answer: unknown = text;
  try {
    answer = JSON.parse(text);
  } catch {
    // left as text
  }
  return { status: res.status, ms, answer };
}

/** A few sequential calls: the answer is checked and a first latency estimate is taken. */
async function sanity(ctx: BenchContext, run: Running, body: string, check: Check): Promise<number> {
  const tokens = await signTokens(ctx.client, run.url, 5);
  const times: number[] = [];
  for (const token of tokens) {
    const { status, ms, answer } = await post(run.url, token, body);
    const problem = check(status, answer);
    if (problem)
      throw new Error(`${run.child.name}: ${problem} (HTTP ${status}: ${JSON.stringify(answer).slice(0, 300)})`);
    times.push(ms);
  }
  return percentile(
    times.sort((a, b) => a - b),
    50,
  );
}

const cpuMs = (a: ProbeReply, b: ProbeReply): number => (b.cpuUs - a.cpuUs) / 1000;

async function phase(
  ctx: BenchContext,
  run: Running,
  body: string,
  connections: number,
  seconds: number,
  expectedRps: number,
  overallRate?: number,
): Promise<PhaseResult> {
  // at a fixed rate the count is known; at saturation the warm-up's rate may still rise as the JIT warms
  const margin = overallRate ? 1.1 : 3;
  const tokens = new TokenPool(
    await signTokens(ctx.client, run.url, Math.ceil(expectedRps * seconds * margin) + 4 * connections),
  );
  return runPhase({ url: run.url, body, tokens, connections, seconds, ...(overallRate ? { overallRate } : {}) });
}

export async function measureTarget(
  ctx: BenchContext,
  run: Running,
  body: string,
  check: Check,
  o: MeasureOptions,
): Promise<TargetResult> {
  const seqMs = await sanity(ctx, run, body, check);
  const warmSeconds = Math.min(1.5, o.seconds);
  const warm = await phase(ctx, run, body, o.connections, warmSeconds, Math.min(3000, (1000 / seqMs) * 1.5));
  const s0 = await run.child.stats();
  const saturation = await phase(ctx, run, body, o.connections, o.seconds, Math.max(warm.rps, 1));
  const s1 = await run.child.stats();
  const target = Math.max(1, saturation.rps * o.rateShare);
  const rate = await phase(ctx, run, body, o.connections, o.seconds, target, target);
  const s2 = await run.child.stats();
  const answered = saturation.ok + saturation.failed;
  return {
    saturation,
    rate: { ...rate, target },
    cpuMsPerRequest: answered > 0 ? cpuMs(s0, s1) / answered : Number.NaN,
    peakRssMb: s2.maxRssBytes / 2 ** 20,
  };
}

export interface GrowthPoint {
  readonly resources: number;
  readonly bytes: number;
  readonly requests: number;
  readonly cpuMsPerRequest: number;
  readonly p50Ms: number;
}

/** Sequential calls for `seconds` (at least `min`): server CPU per request and median latency. */
export async function sequentialCost(
  ctx: BenchContext,
  run: Running,
  body: string,
  check: Check,
  seconds: number,
  min = 5,
): Promise<Omit<GrowthPoint, 'resources'>> {
  await sanity(ctx, run, body, check);
  const times: number[] = [];
  const s0 = await run.child.stats();
  const started = performance.now();
  while (times.length < min || performance.now() - started < seconds * 1000) {
    const [token] = await signTokens(ctx.client, run.url, 1);
    const { status, ms, answer } = await post(run.url, token!, body);
    const problem = check(status, answer);
    if (problem) throw new Error(`${run.child.name}: ${problem}`);
    times.push(ms);
  }
  const s1 = await run.child.stats();
  return {
    bytes: body.length,
    requests: times.length,
    cpuMsPerRequest: cpuMs(s0, s1) / times.length,
    p50Ms: percentile(
      times.sort((a, b) => a - b),
      50,
    ),
  };
}
