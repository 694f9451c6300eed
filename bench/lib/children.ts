/** Child processes of the bench: each server in its own process, CPU and memory read over IPC (lib/probe.mjs). */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { isProbeReply, type ProbeReply } from './probe-protocol.js';
import { REPO_ROOT } from './service.js';

const PROBE = fileURLToPath(new URL('./probe.mjs', import.meta.url));

export interface ServerChild {
  readonly name: string;
  readonly base: string;
  readonly pid: number;
  readonly logFile: string;
  stats(): Promise<ProbeReply>;
  /** stats after a forced GC (the child must run with --expose-gc) */
  gc(): Promise<ProbeReply>;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  readonly name: string;
  /** the script to run; a .ts script gets the tsx loader, a .js one runs without it */
  readonly script: string;
  readonly env: Record<string, string>;
  readonly port: number;
  readonly logFile: string;
  readonly nodeOptions?: readonly string[];
}

/** A free loopback port (the service must know its URL before it starts: CDS_PUBLIC_BASE_URL, aud). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  srv.close();
  await once(srv, 'close');
  return port;
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitHealthy(base: string, child: ChildProcess, logFile: string, name: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`${name} exited with ${child.exitCode} before listening:\n${logTail(logFile)}`);
    try {
      const res = await fetch(`${base}/health`);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${name} did not answer ${base}/health within 60 s:\n${logTail(logFile)}`);
}

function prober(child: ChildProcess): (probe: 'stats' | 'gc') => Promise<ProbeReply> {
  let nextId = 1;
  return async (probe) => {
    const id = nextId++;
    const reply = new Promise<ProbeReply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no probe reply from pid ${child.pid}`)), 10_000);
      const onMessage = (m: unknown): void => {
        if (!isProbeReply(m) || m.id !== id) return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(m);
      };
      child.on('message', onMessage);
    });
    child.send({ probe, id });
    return reply;
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

/** Starts a server child with the probe preloaded, stdout/stderr to logFile, and waits for GET /health. */
export async function spawnServer(o: SpawnOptions): Promise<ServerChild> {
  const fd = openSync(o.logFile, 'a');
  const loader = o.script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const execArgv = [...(o.nodeOptions ?? []), ...loader, '--import', PROBE];
  const child = fork(o.script, [], {
    cwd: REPO_ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...o.env },
    execArgv,
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  closeSync(fd);
  const base = `http://127.0.0.1:${o.port}`;
  try {
    await waitHealthy(base, child, o.logFile, o.name);
  } catch (e) {
    await stopChild(child);
    throw e;
  }
  const probe = prober(child);
  return {
    name: o.name,
    base,
    pid: child.pid ?? -1,
    logFile: o.logFile,
    stats: () => probe('stats'),
    gc: () => probe('gc'),
    stop: () => stopChild(child),
  };
}

export interface FhirChild {
  readonly url: string;
  /** what the replay server answered so far (bench/fhir-replay-server.mjs only) */
  stats(): Promise<{ served: number; missed: number; connections: number }>;
  stop(): Promise<void>;
}

/** Starts a FHIR server child that tells its base URL over IPC (`{ fhirServer }`); .ts scripts get tsx. */
async function spawnFhirChild(script: string, env: Record<string, string>, logFile: string): Promise<FhirChild> {
  const fd = openSync(logFile, 'a');
  const child = fork(script, [], {
    cwd: REPO_ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
    execArgv: script.endsWith('.ts') ? ['--import', 'tsx'] : [],
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  closeSync(fd);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`FHIR server did not start:\n${logTail(logFile)}`)), 60_000);
    child.on('message', (m: unknown) => {
      const u = (m as { fhirServer?: unknown } | null)?.fhirServer;
      if (typeof u === 'string') {
        clearTimeout(timer);
        resolve(u);
      }
    });
    child.on('exit', (code) => reject(new Error(`FHIR server exited with ${code}:\n${logTail(logFile)}`)));
  });
  const stats = () =>
    new Promise<{ served: number; missed: number; connections: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no stats from the FHIR server')), 10_000);
      const onMessage = (m: unknown): void => {
        const r = m as { served?: unknown; missed?: unknown; connections?: unknown } | null;
        if (typeof r?.served !== 'number' || typeof r.missed !== 'number') return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve({ served: r.served, missed: r.missed, connections: Number(r.connections ?? 0) });
      };
      child.on('message', onMessage);
      child.send({ stats: true });
    });
  return { url, stats, stop: () => stopChild(child) };
}

/** The test suite's Medplum-router server (bench/fhir-server-child.ts) seeded from `resourcesFile`. */
export function spawnFhirServer(resourcesFile: string, logFile: string): Promise<FhirChild> {
  return spawnFhirChild(
    fileURLToPath(new URL('../fhir-server-child.ts', import.meta.url)),
    { BENCH_FHIR_RESOURCES: resourcesFile },
    logFile,
  );
}

/** bench/fhir-replay-server.mjs serving the recorded answers of `answersFile`, over https with `tls`. */
export function spawnReplayServer(
  answersFile: string,
  tls: { certFile: string; keyFile: string },
  logFile: string,
): Promise<FhirChild> {
  return spawnFhirChild(
    fileURLToPath(new URL('../fhir-replay-server.mjs', import.meta.url)),
    { BENCH_FHIR_ANSWERS: answersFile, BENCH_TLS_CERT: tls.certFile, BENCH_TLS_KEY: tls.keyFile },
    logFile,
  );
}
