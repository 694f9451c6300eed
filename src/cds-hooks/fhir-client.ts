import { bundleResources, isBundle, isResource, isUnderBase, nextLink } from '../fhir/bundle.js';

/**
 * Queries against the CDS client's FHIR server. Every URL is built with the URL parser and checked to lie
 * under the FHIR base before the token is sent. Failures are typed; they never carry the URL (it holds
 * patient identifiers) nor the token.
 */

export interface FhirAccess {
  readonly baseUrl: string;
  readonly accessToken?: string;
}

export interface FetchOptions {
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  readonly maxPages: number;
  /** Largest FHIR answer read, in bytes. */
  readonly maxBytes: number;
  /** Shared by every query of the call, spent as answers arrive. */
  readonly budget: { resources: number; bytes: number };
  readonly fetch: typeof fetch;
}

export type FailureKind =
  'timeout' | 'http' | 'network' | 'invalid-answer' | 'too-large' | 'redirect' | 'page-limit' | 'foreign-link';

export interface FetchFailure {
  readonly kind: FailureKind;
  readonly status?: number;
}

export type QueryResult =
  | { ok: true; resources: fhir4.Resource[]; complete: boolean; requests: number; failure?: FetchFailure }
  | { ok: false; failure: FetchFailure; requests: number };

type Answer = { ok: true; status: number; body: unknown } | { ok: false; failure: FetchFailure };

/** A short, non-identifying label for logs: `http-500`, `timeout`, `page-limit`. */
export function failureLabel(f: FetchFailure): string {
  return f.status !== undefined ? `${f.kind}-${f.status}` : f.kind;
}

export function fhirAccess(fhirServer: string, accessToken: string | undefined): FhirAccess {
  const baseUrl = fhirServer.replace(/\/+$/, '');
  return accessToken ? { baseUrl, accessToken } : { baseUrl };
}

function headers(access: FhirAccess): Record<string, string> {
  return {
    Accept: 'application/fhir+json, application/json;q=0.9',
    ...(access.accessToken ? { Authorization: `Bearer ${access.accessToken}` } : {}),
  };
}

/** The absolute URL of a relative query or a link, or undefined when it would leave the FHIR base. */
export function urlUnderBase(access: FhirAccess, target: string): string | undefined {
  let url: URL;
  try {
    url = new URL(target, `${access.baseUrl}/`);
  } catch {
    return undefined;
  }
  return isUnderBase(access.baseUrl, url.href) ? url.href : undefined;
}

/** The body as text, or undefined once it grows past `max` bytes (the rest is not read). */
async function readCapped(res: Response, max: number): Promise<string | undefined> {
  if (!res.body) return '';
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function get(access: FhirAccess, target: string, opts: FetchOptions): Promise<Answer> {
  const url = urlUnderBase(access, target);
  if (!url) return { ok: false, failure: { kind: 'foreign-link' } };
  let res: Response;
  try {
    res = await opts.fetch(url, { headers: headers(access), signal: opts.signal, redirect: 'manual' });
  } catch {
    return { ok: false, failure: { kind: opts.signal.aborted ? 'timeout' : 'network' } };
  }
  const cap = Math.min(opts.maxBytes, opts.budget.bytes);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > cap) {
    await res.body?.cancel();
    return { ok: false, failure: { kind: 'too-large' } };
  }
  let text: string;
  try {
    const read = await readCapped(res, cap);
    if (read === undefined) return { ok: false, failure: { kind: 'too-large' } };
    text = read;
    opts.budget.bytes -= Buffer.byteLength(read);
  } catch {
    return { ok: false, failure: { kind: opts.signal.aborted ? 'timeout' : 'network' } };
  }
  if (res.status >= 300 && res.status < 400) return { ok: false, failure: { kind: 'redirect', status: res.status } };
  if (!res.ok && res.status !== 404 && res.status !== 410)
    return { ok: false, failure: { kind: 'http', status: res.status } };
  try {
    return { ok: true, status: res.status, body: JSON.parse(text) as unknown };
  } catch {
    return res.ok
      ? { ok: false, failure: { kind: 'invalid-answer' } }
      : { ok: true, status: res.status, body: undefined };
  }
}

/** A read (Type/id): 404 or 410 means no data. */
export async function read(
  access: FhirAccess,
  relative: string,
  resourceType: string,
  opts: FetchOptions,
): Promise<QueryResult> {
  const answer = await get(access, relative, opts);
  if (!answer.ok) return { ok: false, failure: answer.failure, requests: 1 };
  if (answer.status === 404 || answer.status === 410) return { ok: true, resources: [], complete: true, requests: 1 };
  if (!isResource(answer.body) || answer.body.resourceType !== resourceType) {
    return { ok: false, failure: { kind: 'invalid-answer' }, requests: 1 };
  }
  opts.budget.resources -= 1;
  if (opts.budget.resources < 0) return { ok: false, failure: { kind: 'too-large' }, requests: 1 };
  return { ok: true, resources: [answer.body], complete: true, requests: 1 };
}

/** Follows the `next` links of a searchset, within the page bound and only under the same FHIR base. */
export async function followPages(
  access: FhirAccess,
  first: fhir4.Bundle,
  opts: FetchOptions,
  pagesSoFar = 1,
): Promise<QueryResult> {
  const resources = bundleResources(first);
  let next = nextLink(first);
  const overBudget = (): boolean => opts.budget.resources < 0;
  let pages = pagesSoFar;
  let requests = 0;
  const partial = (failure: FetchFailure): QueryResult => ({ ok: true, resources, complete: false, requests, failure });
  while (next) {
    if (overBudget()) return partial({ kind: 'too-large' });
    if (pages >= opts.maxPages) return partial({ kind: 'page-limit' });
    if (!urlUnderBase(access, next)) return partial({ kind: 'foreign-link' });
    const answer = await get(access, next, opts);
    requests += 1;
    pages += 1;
    if (!answer.ok) return partial(answer.failure);
    if (!isBundle(answer.body)) return partial({ kind: 'invalid-answer', status: answer.status });
    const page = bundleResources(answer.body);
    opts.budget.resources -= page.length;
    resources.push(...page);
    next = nextLink(answer.body);
  }
  if (overBudget()) return partial({ kind: 'too-large' });
  return { ok: true, resources, complete: true, requests };
}

/** A search (Type?params): every page up to the bound. A 404 means the server cannot run it. */
export async function search(access: FhirAccess, relative: string, opts: FetchOptions): Promise<QueryResult> {
  const answer = await get(access, relative, opts);
  if (!answer.ok) return { ok: false, failure: answer.failure, requests: 1 };
  if (!isBundle(answer.body)) {
    const failure: FetchFailure =
      answer.status === 200 ? { kind: 'invalid-answer' } : { kind: 'http', status: answer.status };
    return { ok: false, failure, requests: 1 };
  }
  opts.budget.resources -= bundleResources(answer.body).length;
  const rest = await followPages(access, answer.body, opts);
  return { ...rest, requests: rest.requests + 1 };
}
