// @ts-check
/**
 * Preloaded with `--import` into every server the bench starts (never part of src/): answers the harness over
 * the IPC channel (lib/probe-protocol.ts) with this process's CPU time and memory, after a forced GC when asked
 * (needs --expose-gc). It adds no endpoint and keeps no timer; the IPC channel is unref'd so it never keeps the
 * process alive. Plain JavaScript so that a built service (dist/) runs without the tsx loader (~35 MB of RSS).
 */

/** @param {{ probe: 'stats' | 'gc', id: number }} req */
function reply(req) {
  const gc = /** @type {{ gc?: () => void }} */ (globalThis).gc;
  const collected = req.probe === 'gc' && typeof gc === 'function';
  if (collected && gc) gc();
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return {
    id: req.id,
    cpuUs: cpu.user + cpu.system,
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    heapTotalBytes: mem.heapTotal,
    externalBytes: mem.external,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    collected,
  };
}

/** @param {unknown} m @returns {m is { probe: 'stats' | 'gc', id: number }} */
function isProbeRequest(m) {
  if (typeof m !== 'object' || m === null) return false;
  const r = /** @type {Record<string, unknown>} */ (m);
  return (r['probe'] === 'stats' || r['probe'] === 'gc') && typeof r['id'] === 'number';
}

if (process.send) {
  process.on('message', (m) => {
    if (isProbeRequest(m)) process.send?.(reply(m));
  });
  process.channel?.unref();
}
