import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { issueLines } from '../fhir/issues.js';
import { errorMessage } from './errors.js';

/** The one loader of definition files: read, parse as YAML, validate; every problem names the file. */

/** `unreadable`: the file is missing or not YAML, so nothing in it could be checked. */
export type FileResult<T> = { ok: true; value: T } | { ok: false; errors: string[]; unreadable: boolean };

export function readYamlFile<T>(path: string, display: string, schema: z.ZodType<T>): FileResult<T> {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    return { ok: false, errors: [`${display}: ${missing ? 'missing (ENOENT)' : errorMessage(e)}`], unreadable: true };
  }
  const parsed = schema.safeParse(raw);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, errors: issueLines(parsed.error, display), unreadable: false };
}
