/** Messages between the bench harness and lib/probe.mjs in a server child. */

export interface ProbeRequest {
  readonly probe: 'stats' | 'gc';
  readonly id: number;
}

export interface ProbeReply {
  readonly id: number;
  /** user + system CPU time of the whole process since it started, µs */
  readonly cpuUs: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  readonly externalBytes: number;
  /** peak resident set size since the process started */
  readonly maxRssBytes: number;
  /** whether a GC was forced before measuring (needs --expose-gc) */
  readonly collected: boolean;
}

export function isProbeReply(m: unknown): m is ProbeReply {
  return typeof m === 'object' && m !== null && typeof (m as Record<string, unknown>)['cpuUs'] === 'number';
}
