import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { failure } from '../fhir/outcome.js';
import { issueLines } from '../fhir/issues.js';
import type { Config } from './config.js';
import { sendFailure } from './send.js';

/**
 * The credential of the payer's own systems (claims, prior authorization) on GET /coverage-assertions/{id}:
 * named consumers, each with its own bearer token, known by the token's SHA-256 only. Separate from the CDS
 * client JWTs. Without a consumer the endpoint is off (404).
 */

export interface AdminConsumer {
  readonly name: string;
  /** SHA-256 of the token, 32 bytes. */
  readonly tokenHash: Buffer;
}

const consumersFileSchema = z.strictObject({
  consumers: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, dot, dash or underscore'),
        tokenSha256: z.string().regex(/^[0-9a-f]{64}$/i, "must be the token's SHA-256 as 64 hex digits"),
      }),
    )
    .min(1),
});

export const sha256 = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** The consumers named by CDS_ADMIN_CONSUMERS (file) and CDS_ADMIN_TOKEN ("admin"); none means the endpoint is off. */
export function adminConsumers(
  config: Config,
): { ok: true; consumers: AdminConsumer[] } | { ok: false; errors: string[] } {
  const consumers: AdminConsumer[] = [];
  const file = config.operations.adminConsumersFile;
  if (file !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      return { ok: false, errors: [`CDS_ADMIN_CONSUMERS: ${file} cannot be read as JSON (${(error as Error).name})`] };
    }
    const parsed = consumersFileSchema.safeParse(raw);
    if (!parsed.success)
      return { ok: false, errors: issueLines(parsed.error).map((l) => `CDS_ADMIN_CONSUMERS ${file}: ${l}`) };
    const names = parsed.data.consumers.map((c) => c.name);
    const duplicate = names.find((n, i) => names.indexOf(n) !== i);
    if (duplicate !== undefined)
      return { ok: false, errors: [`CDS_ADMIN_CONSUMERS ${file}: consumer ${duplicate} is listed twice`] };
    consumers.push(
      ...parsed.data.consumers.map((c) => ({ name: c.name, tokenHash: Buffer.from(c.tokenSha256, 'hex') })),
    );
  }
  if (config.operations.adminToken !== undefined)
    consumers.push({ name: 'admin', tokenHash: sha256(config.operations.adminToken) });
  return { ok: true, consumers };
}

/** The consumer whose token this is; every hash is compared, in constant time, whatever matches first. */
export function consumerFor(consumers: readonly AdminConsumer[], token: string): AdminConsumer | undefined {
  const presented = sha256(token);
  let found: AdminConsumer | undefined;
  for (const c of consumers) {
    if (timingSafeEqual(presented, c.tokenHash) && found === undefined) found = c;
  }
  return found;
}

export function consumerOf(res: Response): AdminConsumer | undefined {
  return res.locals['consumer'] as AdminConsumer | undefined;
}

const REALM = 'coverage-assertions';

/** RFC 6750: 401 with WWW-Authenticate; `invalid_token` when a token was presented and is not a consumer's. */
export function adminAuthentication(
  consumers: readonly AdminConsumer[],
  onRefused?: (req: Request, res: Response) => void,
  realm = REALM,
): RequestHandler {
  return (req, res, next) => {
    const header = req.get('authorization');
    const token = /^Bearer\s+([\x21-\x7e]+)\s*$/i.exec(header ?? '')?.[1];
    const consumer = token === undefined ? undefined : consumerFor(consumers, token);
    if (consumer === undefined) {
      const challenge =
        header === undefined ? `Bearer realm="${realm}"` : `Bearer realm="${realm}", error="invalid_token"`;
      sendFailure(res, {
        ...failure(401, 'login', 'Authentication required'),
        headers: { 'WWW-Authenticate': challenge },
      });
      onRefused?.(req, res);
      return;
    }
    res.locals['consumer'] = consumer;
    next();
  };
}
