/**
 * What the npm scripts share: a failure is one line on stderr and a non-zero exit, never a stack trace.
 */
import { readFileSync } from 'node:fs';

/** A failure the user can act on; `code` 2 for bad arguments, 1 otherwise. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: 1 | 2 = 1,
  ) {
    super(message);
  }
}

export function usage(line: string): CliError {
  return new CliError(`usage: ${line}`, 2);
}

/** The first line of an error's message, without the stack. */
export function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0] ?? text;
}

/** Runs a script's main (its exit code, 0 when undefined); any failure becomes `<script>: <one line>` on stderr and the exit code. */
export async function run(
  script: string,
  main: () => number | undefined | Promise<number | undefined>,
): Promise<never> {
  try {
    const code = await main();
    process.exit(code ?? 0);
  } catch (e) {
    process.stderr.write(`${script}: ${firstLine(e)}\n`);
    process.exit(e instanceof CliError ? e.code : 1);
  }
}

export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : firstLine(e);
    throw new CliError(`cannot read ${file}: ${why}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CliError(`${file} is not JSON: ${firstLine(e)}`);
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A base URL given on the command line: http(s), no query or fragment. */
export function parseHttpUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(`${what} is not a URL: ${text}`, 2);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CliError(`${what} must be http or https: ${text}`, 2);
  return url;
}

/** Why a fetch failed, in words (connection refused, unknown host, timeout), from undici's `cause`. */
export function fetchFailure(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  switch (cause?.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the service running? npm start)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host';
    case 'ECONNRESET':
      return 'connection reset';
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'timed out';
    default:
      if ((e as Error).name === 'TimeoutError') return 'timed out';
      return firstLine(cause?.message ?? e);
  }
}

/** A non-negative integer from an environment variable, or its default; anything else is a usage error. */
export function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new CliError(`${name} must be a whole number, got ${JSON.stringify(raw)}`, 2);
  return Number(raw);
}
