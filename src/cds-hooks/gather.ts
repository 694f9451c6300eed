import { bundleResources, isBundle, isOperationOutcome, isResource, nextLink } from '../fhir/bundle.js';
import {
  followPages,
  read,
  search,
  type FetchFailure,
  type FetchOptions,
  type FhirAccess,
  type QueryResult,
} from './fhir-client.js';
import type { DataQuery } from './service-definition.js';

/**
 * Data gathering: each data query is answered from prefetch when the client supplied it, otherwise from the
 * client's FHIR server; all missing queries run in parallel under one deadline.
 */

export type QueryStatus =
  /** All the data the query would return. */
  | 'complete'
  /** Some of it: a page or the server failed mid-way, or the page bound was reached. */
  | 'partial'
  /** None: the FHIR server failed or was too slow. */
  | 'unavailable'
  /** None: not prefetched and there is no FHIR server to ask. */
  | 'missing'
  /** The query cannot be expressed for this call (a token without a value), so there is nothing to fetch. */
  | 'not-applicable';

export interface QueryOutcome {
  readonly query: DataQuery;
  readonly status: QueryStatus;
  readonly source: 'prefetch' | 'fhir' | 'none';
  readonly resources: readonly fhir4.Resource[];
  readonly failure?: FetchFailure;
}

export const isIncomplete = (o: QueryOutcome): boolean => o.status === 'unavailable' || o.status === 'partial';

export interface PlannedQuery {
  readonly query: DataQuery;
  /** The template with its tokens expanded, or undefined when a token has no value. */
  readonly url: string | undefined;
}

/** `budget` is what the whole call may bring in: resources (prefetched ones included) and bytes of FHIR answers. */
export interface GatherInput extends Omit<FetchOptions, 'signal'> {
  readonly planned: readonly PlannedQuery[];
  readonly prefetch: Readonly<Record<string, unknown>>;
  readonly access: FhirAccess | undefined;
  /** Aborted when the caller gives up (the client closed the request). */
  readonly signal?: AbortSignal;
}

export interface Gathered {
  readonly outcomes: readonly QueryOutcome[];
  readonly fhirRequests: number;
}

/** What a prefetch slot means for its query (CDS Hooks 2.0 §Prefetch). */
export type PrefetchSlot =
  | { kind: 'use'; resources: fhir4.Resource[]; continueFrom?: fhir4.Bundle }
  /** Absent, or an OperationOutcome: the client did not or could not fetch it. */
  | { kind: 'fetch' }
  | { kind: 'invalid'; problem: string };

export function classifyPrefetch(query: DataQuery, prefetch: Readonly<Record<string, unknown>>): PrefetchSlot {
  if (!Object.hasOwn(prefetch, query.key)) return { kind: 'fetch' };
  const value = prefetch[query.key];
  if (value === null) return { kind: 'use', resources: [] };
  if (isOperationOutcome(value)) return { kind: 'fetch' };
  if (!isResource(value)) return { kind: 'invalid', problem: 'must be a FHIR resource, an OperationOutcome or null' };
  if (query.kind === 'search' && isBundle(value)) {
    return nextLink(value)
      ? { kind: 'use', resources: bundleResources(value), continueFrom: value }
      : { kind: 'use', resources: bundleResources(value) };
  }
  if (value.resourceType === query.resourceType) return { kind: 'use', resources: [value] };
  const expected = query.kind === 'search' ? 'a Bundle' : `a ${query.resourceType}`;
  return { kind: 'invalid', problem: `must be ${expected}, the answer to ${query.template}` };
}

function toOutcome(query: DataQuery, result: QueryResult, source: QueryOutcome['source']): QueryOutcome {
  if (!result.ok) return { query, status: 'unavailable', source, resources: [], failure: result.failure };
  return {
    query,
    status: result.complete ? 'complete' : 'partial',
    source,
    resources: result.resources,
    ...(result.failure ? { failure: result.failure } : {}),
  };
}

/** The queries that would have to be fetched but cannot be, because there is no FHIR server. */
export function missingWithoutServer(
  planned: readonly PlannedQuery[],
  prefetch: Readonly<Record<string, unknown>>,
): DataQuery[] {
  return planned
    .filter((p) => p.url !== undefined && classifyPrefetch(p.query, prefetch).kind === 'fetch')
    .map((p) => p.query);
}

export async function gather(input: GatherInput): Promise<Gathered> {
  const timeout = AbortSignal.timeout(input.timeoutMs);
  const signal = input.signal ? AbortSignal.any([timeout, input.signal]) : timeout;
  const prefetched = input.planned.reduce((n, p) => {
    const slot = classifyPrefetch(p.query, input.prefetch);
    return n + (slot.kind === 'use' ? slot.resources.length : 0);
  }, 0);
  const budget = { resources: input.budget.resources - prefetched, bytes: input.budget.bytes };
  const opts: FetchOptions = {
    signal,
    timeoutMs: input.timeoutMs,
    maxPages: input.maxPages,
    maxBytes: input.maxBytes,
    budget,
    fetch: input.fetch,
  };
  let fhirRequests = 0;
  const count = (r: QueryResult): QueryResult => {
    fhirRequests += r.requests;
    return r;
  };
  const one = async ({ query, url }: PlannedQuery): Promise<QueryOutcome> => {
    if (url === undefined) return { query, status: 'not-applicable', source: 'none', resources: [] };
    const slot = classifyPrefetch(query, input.prefetch);
    if (slot.kind === 'use') {
      if (!slot.continueFrom) return { query, status: 'complete', source: 'prefetch', resources: slot.resources };
      if (!input.access)
        return {
          query,
          status: 'partial',
          source: 'prefetch',
          resources: slot.resources,
          failure: { kind: 'page-limit' },
        };
      return toOutcome(query, count(await followPages(input.access, slot.continueFrom, opts)), 'prefetch');
    }
    if (!input.access) return { query, status: 'missing', source: 'none', resources: [] };
    const result =
      query.kind === 'read'
        ? await read(input.access, url, query.resourceType, opts)
        : await search(input.access, url, opts);
    return toOutcome(query, count(result), 'fhir');
  };
  const outcomes = await Promise.all(input.planned.map(one));
  return { outcomes, fhirRequests };
}
