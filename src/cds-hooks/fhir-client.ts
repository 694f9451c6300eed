import { bundleResources, isBundle, isResource, isUnderBase, nextLink } from '../fhir/bundle.js';

/**
 * Queries against the CDS client's FHIR server. Failure reasons name what went wrong, never the URL
 * (it carries patient identifiers) nor the token.
 */

export interface FhirAccess {
  readonly baseUrl: string;
  readonly accessToken?: string;
}

export interface FetchOptions {
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  readonly maxPages: number;
  readonly fetch: typeof fetch;
}

export type QueryResult =
  | { ok: true; resources: fhir4.Resource[]; complete: boolean; requests: number; reason?: string }
  | { ok: false; reason: string; requests: number };

type Answer = { ok: true; status: number; body: unknown } | { ok: false; reason: string };

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

async function get(access: FhirAccess, url: string, opts: FetchOptions): Promise<Answer> {
  let res: Response;
  try {
    res = await opts.fetch(url, { headers: headers(access), signal: opts.signal, redirect: 'manual' });
  } catch (e) {
    if (opts.signal.aborted) return { ok: false, reason: `no answer within ${opts.timeoutMs} ms` };
    return { ok: false, reason: `connection failed (${(e as Error).name})` };
  }
  let text: string;
  try {
    text = await res.text();
  } catch {
    return { ok: false, reason: opts.signal.aborted ? `no answer within ${opts.timeoutMs} ms` : 'answer interrupted' };
  }
  if (res.status >= 300 && res.status < 400) return { ok: false, reason: `redirect (HTTP ${res.status}) not followed` };
  if (res.status === 404 || res.status === 410) return { ok: true, status: res.status, body: undefined };
  if (!res.ok) return { ok: false, reason: `HTTP ${res.status}` };
  try {
    return { ok: true, status: res.status, body: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, reason: 'answer is not JSON' };
  }
}

export function resolveUrl(access: FhirAccess, relative: string): string {
  return `${access.baseUrl}/${relative.replace(/^\/+/, '')}`;
}

/** A read (Type/id): a 404 means no data. */
export async function read(access: FhirAccess, relative: string, resourceType: string, opts: FetchOptions): Promise<QueryResult> {
  const answer = await get(access, resolveUrl(access, relative), opts);
  if (!answer.ok) return { ok: false, reason: answer.reason, requests: 1 };
  if (answer.body === undefined) return { ok: true, resources: [], complete: true, requests: 1 };
  if (!isResource(answer.body) || answer.body.resourceType !== resourceType) {
    return { ok: false, reason: `answer is not a ${resourceType}`, requests: 1 };
  }
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
  let pages = pagesSoFar;
  let requests = 0;
  while (next) {
    if (pages >= opts.maxPages) {
      return { ok: true, resources, complete: false, requests, reason: `more than ${opts.maxPages} pages` };
    }
    if (!isUnderBase(access.baseUrl, next)) {
      return { ok: true, resources, complete: false, requests, reason: 'next page link points outside the FHIR server' };
    }
    const answer = await get(access, new URL(next, `${access.baseUrl}/`).href, opts);
    requests += 1;
    pages += 1;
    if (!answer.ok) return { ok: true, resources, complete: false, requests, reason: answer.reason };
    if (!isBundle(answer.body)) return { ok: true, resources, complete: false, requests, reason: 'next page is not a Bundle' };
    resources.push(...bundleResources(answer.body));
    next = nextLink(answer.body);
  }
  return { ok: true, resources, complete: true, requests };
}

/** A search (Type?params): every page up to the bound. */
export async function search(access: FhirAccess, relative: string, opts: FetchOptions): Promise<QueryResult> {
  const answer = await get(access, resolveUrl(access, relative), opts);
  if (!answer.ok) return { ok: false, reason: answer.reason, requests: 1 };
  if (!isBundle(answer.body)) return { ok: false, reason: 'answer is not a Bundle', requests: 1 };
  const rest = await followPages(access, answer.body, opts);
  return rest.ok ? { ...rest, requests: rest.requests + 1 } : rest;
}
