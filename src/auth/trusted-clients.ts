import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { issueLines } from '../fhir/issues.js';

/**
 * Trusted CDS clients (CDS_TRUSTED_CLIENTS): who may call the service, with which keys, for which audience, and
 * which FHIR servers their requests may name. Validated at start-up; a broken file stops it.
 */

const jwks = z.object({ keys: z.array(z.looseObject({ kty: z.string() })).min(1) });
const url = z.url({ protocol: /^https?$/ });

const clientSchema = z
  .strictObject({
    iss: z.string().min(1),
    /** The client's public keys inline, or in a file next to this one, or at a URL the service fetches. */
    jwks: jwks.optional(),
    jwksFile: z.string().min(1).optional(),
    jwksUrl: url.optional(),
    /** `jku` header values this client may send (its jwksUrl is always allowed). */
    jku: z.array(url).default([]),
    /** Audiences the client puts in `aud` when it is not the URL called (e.g. an EHR configured otherwise). */
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /** Accept a repeated `jti` (test tools that sign once and call many times). */
    allowJtiReuse: z.boolean().default(false),
    /** Longest accepted token life (exp - iat); the CRD request generator signs for a day. */
    maxTokenLifetimeSec: z.number().int().positive().max(86_400 * 7).default(300),
    tenants: z.array(z.string().min(1)).optional(),
    /** FHIR servers this client's requests may name (added to CDS_FHIR_ALLOWLIST). */
    fhirServers: z.array(url).default([]),
    /** Trusted for development only (its private key is public); production refuses to start with it. */
    development: z.boolean().default(false),
  })
  .refine((c) => [c.jwks, c.jwksFile, c.jwksUrl].filter(Boolean).length === 1, 'give exactly one of jwks, jwksFile, jwksUrl');

const fileSchema = z.strictObject({ clients: z.array(clientSchema) });

export type ClientDefinition = z.infer<typeof clientSchema>;

export interface TrustedClient extends ClientDefinition {
  readonly keys: JWTVerifyGetKey;
  /** jku values accepted for this client. */
  readonly allowedJku: readonly string[];
}

export type ClientsResult = { ok: true; clients: TrustedClient[] } | { ok: false; errors: string[] };

export function trustedClients(file: string): ClientsResult {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    return { ok: false, errors: [`${file}: ${(e as Error).message}`] };
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, errors: issueLines(parsed.error, file) };
  const errors: string[] = [];
  const clients = parsed.data.clients.flatMap((c, i): TrustedClient[] => {
    let keys: JWTVerifyGetKey;
    try {
      if (c.jwksUrl) keys = createRemoteJWKSet(new URL(c.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 600_000, timeoutDuration: 2_000 });
      else {
        const set = c.jwks ?? (JSON.parse(readFileSync(resolve(dirname(file), c.jwksFile!), 'utf8')) as unknown);
        keys = createLocalJWKSet(jwks.parse(set) as JSONWebKeySet);
      }
    } catch (e) {
      errors.push(`${file}: clients.${i} (${c.iss}): cannot read its keys: ${(e as Error).message}`);
      return [];
    }
    return [{ ...c, keys, allowedJku: [...c.jku, ...(c.jwksUrl ? [c.jwksUrl] : [])] }];
  });
  const issuers = clients.map((c) => c.iss);
  issuers.forEach((iss, i) => issuers.indexOf(iss) !== i && errors.push(`${file}: issuer ${iss} listed twice`));
  return errors.length > 0 ? { ok: false, errors } : { ok: true, clients };
}
