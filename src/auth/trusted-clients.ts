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
    /**
     * The format of the document at jwksUrl: a JWKS (default), or the Da Vinci CRD request generator's key list
     * `[{"pem": <public JWK>, "id": <kid>}]` (its GET /public_keys; a JWKS there is read too).
     */
    jwksFormat: z.enum(['jwks', 'crd-request-generator']).default('jwks'),
    /** `jku` header values this client may send (its jwksUrl is always allowed). */
    jku: z.array(url).default([]),
    /** Audiences the client puts in `aud` when it is not the URL called (e.g. an EHR configured otherwise). */
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /** Accept a repeated `jti` (test tools that sign once and call many times). */
    allowJtiReuse: z.boolean().default(false),
    /** Longest accepted token life (exp - iat); the CRD request generator signs for a day. */
    maxTokenLifetimeSec: z
      .number()
      .int()
      .positive()
      .max(86_400 * 7)
      .default(300),
    tenants: z.array(z.string().min(1)).optional(),
    /** FHIR servers this client's requests may name (added to CDS_FHIR_ALLOWLIST). */
    fhirServers: z.array(url).default([]),
    /** Trusted for development only (its private key is public); production refuses to start with it. */
    development: z.boolean().default(false),
  })
  .refine(
    (c) => [c.jwks, c.jwksFile, c.jwksUrl].filter(Boolean).length === 1,
    'give exactly one of jwks, jwksFile, jwksUrl',
  )
  .refine((c) => c.jwksFormat === 'jwks' || c.jwksUrl !== undefined, {
    error: 'jwksFormat applies to jwksUrl only',
    path: ['jwksFormat'],
  })
  .refine((c) => !c.allowJtiReuse || c.development, {
    error: 'allowJtiReuse is allowed for development clients only ("development": true): it reopens tokens to replay',
    path: ['allowJtiReuse'],
  });

const fileSchema = z.strictObject({ clients: z.array(clientSchema) });

export type ClientDefinition = z.infer<typeof clientSchema>;

export interface TrustedClient extends ClientDefinition {
  readonly keys: JWTVerifyGetKey;
  /** jku values accepted for this client. */
  readonly allowedJku: readonly string[];
}

const KEYS_COOLDOWN_MS = 30_000;
const KEYS_MAX_AGE_MS = 600_000;
const KEYS_TIMEOUT_MS = 2_000;

const keyList = z.array(z.looseObject({ pem: z.looseObject({ kty: z.string() }), id: z.string().min(1) }));

/** The CRD request generator's `[{pem, id}]` as a JWKS (the entry's id is the key's kid); a JWKS as it is. */
export function keyListToJwks(list: unknown): JSONWebKeySet | undefined {
  const set = jwks.safeParse(list);
  if (set.success) return set.data;
  const parsed = keyList.safeParse(list);
  if (!parsed.success || parsed.data.length === 0) return undefined;
  return { keys: parsed.data.map((k) => ({ ...k.pem, kid: k.id })) };
}

/**
 * A remote key list in the request generator's format, with the cache and cooldown of a remote JWKS: fetched on
 * first use, kept for KEYS_MAX_AGE_MS, refetched on an unknown kid at most every KEYS_COOLDOWN_MS.
 */
function keyListSet(url: string): JWTVerifyGetKey {
  let local: JWTVerifyGetKey | undefined;
  let fetchedAt = -Infinity;
  const refresh = async (): Promise<void> => {
    fetchedAt = Date.now();
    const res = await fetch(url, { signal: AbortSignal.timeout(KEYS_TIMEOUT_MS), redirect: 'error' });
    const set = res.ok ? keyListToJwks(await res.json()) : undefined;
    if (!set) throw new Error(`the key list at ${url} is not [{"pem": <JWK>, "id": <kid>}]`);
    local = createLocalJWKSet(set);
  };
  return async (header, token) => {
    const stale = !local || Date.now() - fetchedAt > KEYS_MAX_AGE_MS;
    if (stale) await refresh();
    try {
      return await local!(header, token);
    } catch (e) {
      if (stale || Date.now() - fetchedAt < KEYS_COOLDOWN_MS) throw e;
      await refresh();
      return local!(header, token);
    }
  };
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
      if (c.jwksUrl && c.jwksFormat === 'crd-request-generator') keys = keyListSet(c.jwksUrl);
      else if (c.jwksUrl)
        keys = createRemoteJWKSet(new URL(c.jwksUrl), {
          cooldownDuration: KEYS_COOLDOWN_MS,
          cacheMaxAge: KEYS_MAX_AGE_MS,
          timeoutDuration: KEYS_TIMEOUT_MS,
        });
      else {
        const set = c.jwks ?? (JSON.parse(readFileSync(resolve(dirname(file), c.jwksFile!), 'utf8')) as unknown);
        keys = createLocalJWKSet(jwks.parse(set));
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
