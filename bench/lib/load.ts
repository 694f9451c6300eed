/** Load phases with autocannon (programmatic, loopback): fixed concurrency or fixed overall rate. */
import autocannon from 'autocannon';
import { percentile } from './stats.js';
import type { TokenPool } from './tokens.js';

export interface PhaseSpec {
  /** absolute URL called: it is also every token's aud */
  readonly url: string;
  /** one body, or several sent in turn by every connection (mixed traffic) */
  readonly body: string | readonly string[];
  readonly tokens: TokenPool;
  readonly connections: number;
  readonly seconds: number;
  /** requests per second over all connections; absent = as fast as the server answers */
  readonly overallRate?: number;
}

export interface PhaseResult {
  /** 2xx answers */
  readonly ok: number;
  /** non-2xx answers, socket errors and timeouts */
  readonly failed: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  /** the token pool ran out before the time was up (the phase stopped early) */
  readonly exhausted: boolean;
  readonly statuses: Record<string, number>;
}

function requestWithToken(spec: PhaseSpec, body: string, onExhausted: () => void): autocannon.Request {
  let last = '';
  return {
    method: 'POST',
    path: new URL(spec.url).pathname,
    headers: { 'content-type': 'application/json' },
    body,
    setupRequest: (req) => {
      const token = spec.tokens.take();
      if (token === undefined) onExhausted();
      else last = token;
      return { ...req, headers: { ...req.headers, authorization: `Bearer ${last}` } };
    },
  };
}

/** Runs one phase; latencies are the 2xx response times in ms (float, from autocannon's response events). */
export async function runPhase(spec: PhaseSpec): Promise<PhaseResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let exhausted = false as boolean; // set from autocannon's callbacks, which TypeScript does not follow
  let endedAt = 0;
  let instance: autocannon.Instance | undefined;
  const started = performance.now();
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: new URL(spec.url).origin,
        connections: spec.connections,
        duration: spec.seconds,
        timeout: 30,
        ...(spec.overallRate ? { overallRate: Math.max(1, Math.round(spec.overallRate)) } : {}),
        requests: (typeof spec.body === 'string' ? [spec.body] : spec.body).map((body) =>
          requestWithToken(spec, body, () => {
            if (!exhausted) {
              endedAt = performance.now();
              setImmediate(() => instance?.stop());
            }
            exhausted = true;
          }),
        ),
      },
      (err, result) => (err ? reject(err as Error) : resolve(result)),
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      // after the pool ran out, the requests in flight carry a spent token: not counted
      if (exhausted) return;
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
  const result = await done;
  const seconds = ((exhausted ? endedAt : performance.now()) - started) / 1000;
  latencies.sort((a, b) => a - b);
  const ok = latencies.length;
  const failed =
    Object.entries(statuses).reduce((n, [s, c]) => (s.startsWith('2') ? n : n + c), 0) +
    (exhausted ? 0 : result.errors);
  return {
    ok,
    failed,
    seconds,
    rps: ok / seconds,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    exhausted,
    statuses,
  };
}
