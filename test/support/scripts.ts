import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { isolatedStore } from './app.js';

/** The npm scripts as a user runs them: a failure is one line on stderr and a non-zero exit, never a stack trace. */

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SPAWN_TIMEOUT_MS = 20_000;
export const TEST_TIMEOUT_MS = 30_000;

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `node --import tsx scripts/<name>.ts ...args`, from the repository root. */
export function script(
  name: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
  timeoutMs = SPAWN_TIMEOUT_MS,
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', `scripts/${name}.ts`, ...args],
      {
        cwd: ROOT,
        env: { ...process.env, ...isolatedStore(), LOG_LEVEL: 'silent', ...env },
        timeout: timeoutMs,
        encoding: 'utf8',
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

/** One line on stderr naming the script, matching `message`, with no stack trace. */
export function expectOneLine(run: Run, code: number, message: RegExp): void {
  expect(run.code).toBe(code);
  const lines = run.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(message);
  expect(run.stderr).not.toMatch(/\n\s+at |Error:|node:internal/);
}

/** A loopback port with nothing listening: bound, then released. */
export async function closedPort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((done) => s.close(() => done()));
  return port;
}
