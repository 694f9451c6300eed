/**
 * The replay's EHR side of CDS Hooks: signed discovery and service calls (ES384 client JWTs with a fresh jti,
 * `aud` the exact URL called), and prefetch templates fulfilled from a FHIR server.
 */
import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import { CliError, fetchFailure, isRecord, readJsonFile } from '../cli.js';
import { devKey, TOKEN_LIFETIME_SEC, type DevKey } from '../dev-key.js';

const TIMEOUT_MS = 15_000;

export type Json = Record<string, unknown>;

export interface Signer {
  readonly iss: string;
  token(aud: string): Promise<string>;
}

export interface DiscoveredService {
  readonly id: string;
  readonly hook: string;
  readonly prefetch: Readonly<Record<string, string>>;
}

export interface Answer {
  readonly status: number;
  readonly body: Json;
  readonly ms: number;
}

/** A signer for a private JWK file (`kid` and `alg` required) and issuer, or the development key. */
export async function signerFrom(keyFile: string | undefined, iss: string | undefined): Promise<Signer> {
  let key: DevKey;
  if (keyFile === undefined) {
    const dev = devKey();
    key = iss ? { ...dev, iss } : dev;
  } else {
    const jwk = readJsonFile(keyFile);
    if (!isRecord(jwk) || typeof jwk['kid'] !== 'string')
      throw new CliError(`${keyFile}: a private JWK with a kid is needed`, 2);
    const alg = typeof jwk['alg'] === 'string' ? jwk['alg'] : 'ES384';
    key = { iss: iss ?? devKey().iss, kid: jwk['kid'], alg, jwk };
  }
  let privateKey: Awaited<ReturnType<typeof importJWK>>;
  try {
    privateKey = await importJWK(key.jwk, key.alg);
  } catch (e) {
    throw new CliError(
      `${keyFile ?? 'development key'}: not a private key for ${key.alg} (${(e as Error).message})`,
      2,
    );
  }
  return {
    iss: key.iss,
    token: (aud) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: key.iss, aud, iat: now, exp: now + TOKEN_LIFETIME_SEC, jti: randomUUID() })
        .setProtectedHeader({ alg: key.alg, typ: 'JWT', kid: key.kid })
        .sign(privateKey);
    },
  };
}

async function send(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (e) {
    throw new CliError(`cannot reach ${url}: ${fetchFailure(e)}`);
  }
}

async function jsonOf(res: Response): Promise<Json> {
  const text = await res.text();
  try {
    const parsed = JSON.parse(text) as unknown;
    return isRecord(parsed) ? parsed : { value: parsed };
  } catch {
    return { text: text.slice(0, 200) };
  }
}

export const discoveryUrl = (base: string): string => `${base.replace(/\/+$/, '')}/cds-services`;

/** GET /cds-services, signed; the services it lists with their prefetch templates. */
export async function discover(base: string, signer: Signer): Promise<DiscoveredService[]> {
  const url = discoveryUrl(base);
  const res = await send(url, {
    headers: { Accept: 'application/json', Authorization: `Bearer ${await signer.token(url)}` },
  });
  const body = await jsonOf(res);
  if (res.status !== 200)
    throw new CliError(
      `discovery ${url} answered HTTP ${res.status}${res.status === 401 ? ' (is the signing key trusted by the service? --key, --iss)' : ''}`,
    );
  const services = Array.isArray(body['services']) ? body['services'] : undefined;
  if (!services) throw new CliError(`discovery ${url} lists no services`);
  return services.filter(isRecord).map((s) => ({
    id: String(s['id']),
    hook: String(s['hook']),
    prefetch: isRecord(s['prefetch'])
      ? (Object.fromEntries(Object.entries(s['prefetch']).filter(([, v]) => typeof v === 'string')) as Record<
          string,
          string
        >)
      : {},
  }));
}

/** POST one hook call, signed; the answer as received (any status). */
export async function callService(base: string, serviceId: string, body: Json, signer: Signer): Promise<Answer> {
  const url = `${discoveryUrl(base)}/${encodeURIComponent(serviceId)}`;
  const token = await signer.token(url);
  const started = performance.now();
  const res = await send(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const answer = await jsonOf(res);
  return { status: res.status, body: answer, ms: Math.round(performance.now() - started) };
}

/** A prefetch template with its tokens filled from the context; undefined when a token has no value. */
export function expandTemplate(template: string, context: Json): string | undefined {
  const missing: string[] = [];
  const userId = typeof context['userId'] === 'string' ? context['userId'] : '';
  const [userType, userRef] = userId.split('/');
  const filled = template.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_all, token: string) => {
    const value = token.startsWith('context.')
      ? context[token.slice('context.'.length)]
      : token === `user${userType ?? ''}Id`
        ? userRef
        : undefined;
    if (typeof value !== 'string' || value === '') {
      missing.push(token);
      return '';
    }
    return encodeURIComponent(value);
  });
  return missing.length > 0 ? undefined : filled;
}

/**
 * Prefetch as an EHR builds it: each template run against the FHIR server (a read, or a search), the answer
 * used as is; a read that finds nothing is null; a template that cannot be filled or fails is left out.
 */
export async function fulfilPrefetch(
  fhirBase: string,
  templates: Readonly<Record<string, string>>,
  context: Json,
  skip: ReadonlySet<string>,
): Promise<Json> {
  const out: Json = {};
  for (const [key, template] of Object.entries(templates)) {
    if (skip.has(key)) continue;
    const query = expandTemplate(template, context);
    if (query === undefined) continue;
    const res = await send(`${fhirBase}/${query}`, { headers: { Accept: 'application/fhir+json' } });
    if (res.status === 200) out[key] = await jsonOf(res);
    else if (res.status === 404) out[key] = null;
    else await res.arrayBuffer();
  }
  return out;
}
