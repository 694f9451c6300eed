/**
 * Preloaded with `--import` into every server the bench starts (never part of src/): answers the harness over
 * the IPC channel with this process's CPU time and memory, after a forced GC when asked (needs --expose-gc).
 * It adds no endpoint and keeps no timer; the IPC channel is unref'd so it never keeps the process alive.
 */
import type { ProbeReply, ProbeRequest } from './probe-protocol.js';
import { isProbeRequest } from './probe-protocol.js';

function reply(req: ProbeRequest): ProbeReply {
  const gc = (globalThis as { gc?: () => void }).gc;
  const collected = req.probe === 'gc' && typeof gc === 'function';
  if (collected) gc();
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

if (process.send) {
  process.on('message', (m: unknown) => {
    if (isProbeRequest(m)) process.send?.(reply(m));
  });
  process.channel?.unref();
}
