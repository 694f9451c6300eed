import express, { type RequestHandler } from 'express';
import { badJson, failure, type Failure } from '../fhir/outcome.js';

/** Request bodies: read raw up to the size limit, then parsed as JSON here so the error never quotes the body. */

export const rawBody = (limit: string): RequestHandler => express.raw({ type: () => true, limit });

/**
 * Whether a parsed JSON value nests objects or arrays deeper than `max`. Recursive, but never deeper than `max` + 1
 * calls: it stops at the first value past the limit (the value may be arbitrarily deep). No array per value.
 */
function depthExceeds(value: unknown, max: number, depth = 1): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (depth > max) return true;
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) if (depthExceeds(item, max, depth + 1)) return true;
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) if (Object.hasOwn(record, key) && depthExceeds(record[key], max, depth + 1)) return true;
  return false;
}

/** Parses the body as JSON; the error names where parsing stopped, never the body's text (it may hold PHI). */
export function parseJson(
  body: unknown,
  maxDepth: number,
): { ok: true; value: unknown } | { ok: false; failure: Failure } {
  if (!Buffer.isBuffer(body) || body.length === 0) return { ok: false, failure: badJson('the body is empty') };
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8')) as unknown;
  } catch (e) {
    const position = /position (\d+)/.exec((e as Error).message)?.[1];
    return { ok: false, failure: badJson(position ? `syntax error at character ${position}` : 'syntax error') };
  }
  if (depthExceeds(value, maxDepth))
    return { ok: false, failure: failure(422, 'too-long', `JSON nested deeper than ${maxDepth} levels`) };
  return { ok: true, value };
}
