import express, { type RequestHandler } from 'express';
import { badJson, failure, type Failure } from '../fhir/outcome.js';

/** Request bodies: read raw up to the size limit, then parsed as JSON here so the error never quotes the body. */

export const rawBody = (limit: string): RequestHandler => express.raw({ type: () => true, limit });

/** The nesting depth of a parsed JSON value, counted without recursion (the value may be arbitrarily deep). */
function depthExceeds(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d > max) return true;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return false;
}

/** Parses the body as JSON; the error names where parsing stopped, never the body's text (it may hold PHI). */
export function parseJson(body: unknown, maxDepth: number): { ok: true; value: unknown } | { ok: false; failure: Failure } {
  if (!Buffer.isBuffer(body) || body.length === 0) return { ok: false, failure: badJson('the body is empty') };
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8')) as unknown;
  } catch (e) {
    const position = /position (\d+)/.exec((e as Error).message)?.[1];
    return { ok: false, failure: badJson(position ? `syntax error at character ${position}` : 'syntax error') };
  }
  if (depthExceeds(value, maxDepth)) return { ok: false, failure: failure(422, 'too-long', `JSON nested deeper than ${maxDepth} levels`) };
  return { ok: true, value };
}
