/** The bench's printed table (Markdown, as pasted into the README) and its JSON form. */
import type { GrowthPoint, TargetResult } from './measure.js';
import { linearFit, logLogFit } from './stats.js';

export interface CaseRow {
  readonly id: string;
  readonly label: string;
  readonly bytes: number;
  readonly resources: number;
  readonly result: TargetResult;
  /** the limit measured on the same body */
  readonly limit: TargetResult;
  readonly note?: string;
}

const f = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : '–');
const kb = (bytes: number): string => (bytes >= 1e6 ? `${f(bytes / 1e6, 2)} MB` : `${f(bytes / 1e3, 1)} kB`);
const lat = (p: { p50: number; p90: number; p99: number }): string => `${f(p.p50)} / ${f(p.p90)} / ${f(p.p99)}`;

function rowJson(r: CaseRow): Record<string, unknown> {
  const { result, limit } = r;
  return {
    id: r.id,
    label: r.label,
    bodyBytes: r.bytes,
    resources: r.resources,
    saturation: result.saturation,
    rate: result.rate,
    cpuMsPerRequest: result.cpuMsPerRequest,
    peakRssMb: result.peakRssMb,
    throughputRatioToLimit: result.saturation.rps / limit.saturation.rps,
    cpuRatioToLimit: limit.cpuMsPerRequest / result.cpuMsPerRequest,
    ...(r.note ? { note: r.note } : {}),
  };
}

export function resultTable(
  rows: readonly CaseRow[],
  o: { connections: number; seconds: number; rateShare: number },
): { text: string; json: unknown[] } {
  const head = [
    'case',
    'body',
    `req/s @${o.connections} conn`,
    '× limit',
    'p50 / p90 / p99 ms',
    `req/s @${Math.round(o.rateShare * 100)}% rate`,
    'p50 / p90 / p99 ms',
    'CPU ms/req',
    'limit CPU / CPU',
    'peak RSS MB',
    'failed',
  ];
  const lines = rows.map((r) => {
    const { result: x, limit } = r;
    const failed = x.saturation.failed + x.rate.failed;
    const flags = [x.saturation.exhausted || x.rate.exhausted ? ' (tokens ran out)' : ''].join('');
    return [
      r.label,
      `${kb(r.bytes)}${r.resources ? `, ${r.resources} res.` : ''}`,
      f(x.saturation.rps, 0),
      f(x.saturation.rps / limit.saturation.rps, 2),
      lat(x.saturation),
      f(x.rate.rps, 0),
      lat(x.rate),
      f(x.cpuMsPerRequest, 2),
      f(limit.cpuMsPerRequest / x.cpuMsPerRequest, 2),
      f(x.peakRssMb, 0),
      `${failed}${flags}`,
    ];
  });
  const text = [head, head.map(() => '---'), ...lines].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
  return {
    text: `${o.seconds} s per phase; "× limit" = requests/s over the limit's on the same body; "limit CPU / CPU" = the limit's server CPU per request over the case's.\n\n${text}`,
    json: rows.map(rowJson),
  };
}

export function growthReport(
  service: readonly GrowthPoint[],
  limit: readonly GrowthPoint[],
): { text: string; json: unknown } {
  const ns = service.map((p) => p.resources);
  const costs = service.map((p) => p.cpuMsPerRequest);
  const ours = service.map((p, i) => Math.max(1e-3, p.cpuMsPerRequest - (limit[i]?.cpuMsPerRequest ?? 0)));
  const loglog = logLogFit(ns, costs);
  const loglogOurs = logLogFit(ns, ours);
  const linear = linearFit(ns, costs);
  const head = [
    'resources',
    'body',
    'service CPU ms/req',
    'limit CPU ms/req',
    'service − limit',
    'service p50 ms',
    'calls',
  ];
  const lines = service.map((p, i) => [
    String(p.resources),
    kb(p.bytes),
    f(p.cpuMsPerRequest, 2),
    f(limit[i]?.cpuMsPerRequest ?? Number.NaN, 2),
    f(ours[i]!, 2),
    f(p.p50Ms, 1),
    String(p.requests),
  ]);
  const table = [head, head.map(() => '---'), ...lines].map((c) => `| ${c.join(' | ')} |`).join('\n');
  const text = [
    'Cost per request as the record grows (sequential calls, server CPU time):',
    '',
    table,
    '',
    `fit log(cost) vs log(n): cost ∝ n^${f(loglog.slope, 2)} (R² ${f(loglog.r2, 3)}); service − limit ∝ n^${f(loglogOurs.slope, 2)} (R² ${f(loglogOurs.r2, 3)})`,
    `linear fit: cost = ${f(linear.intercept, 2)} ms + ${f(linear.slope * 1000, 1)} µs × n (R² ${f(linear.r2, 3)})`,
  ].join('\n');
  return { text, json: { service, limit, logLog: loglog, logLogServiceMinusLimit: loglogOurs, linear } };
}
