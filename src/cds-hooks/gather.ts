import { bundleResources, isBundle, isOperationOutcome, nextLink } from '../fhir/bundle.js';
import { followPages, read, search, type FetchOptions, type FhirAccess, type QueryResult } from './fhir-client.js';
import type { DataQuery } from './service-definition.js';

/**
 * Data gathering: each data query is answered from prefetch when the client supplied it, otherwise from the
 * client's FHIR server; all missing queries run in parallel under one deadline.
 */

export type QueryStatus =
  /** All the data the query would return. */
  | 'complete'
  /** Some of it: a page or the server failed mid-way. */
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
  readonly reason?: string;
}

export interface PlannedQuery {
  readonly query: DataQuery;
  /** The template with its tokens expanded, or undefined when a token has no value. */
  readonly url: string | undefined;
}

export interface GatherInput {
  readonly planned: readonly PlannedQuery[];
  readonly prefetch: Readonly<Record<string, unknown>>;
  readonly access: FhirAccess | undefined;
  readonly timeoutMs: number;
  readonly maxPages: number;
  readonly fetch: typeof fetch;
}

export interface Gathered {
  readonly outcomes: readonly QueryOutcome[];
  readonly fhirRequests: number;
}

type PrefetchUse =
  | { use: true; outcome: QueryOutcome; continueFrom?: fhir4.Bundle }
  | { use: false };

function fromPrefetch(query: DataQuery, prefetch: Readonly<Record<string, unknown>>): PrefetchUse {
  if (!Object.hasOwn(prefetch, query.key)) return { use: false };
  const value = prefetch[query.key];
  const done = (resources: readonly fhir4.Resource[]): QueryOutcome => ({
    query,
    status: 'complete',
    source: 'prefetch',
    resources,
  });
  if (value === null) return { use: true, outcome: done([]) };
  if (value === undefined || isOperationOutcome(value)) return { use: false };
  if (isBundle(value) && query.kind === 'search') {
    const outcome = done(bundleResources(value));
    return nextLink(value) ? { use: true, outcome, continueFrom: value } : { use: true, outcome };
  }
  return { use: true, outcome: done([value as fhir4.Resource]) };
}

function toOutcome(query: DataQuery, result: QueryResult, source: QueryOutcome['source']): QueryOutcome {
  if (!result.ok) return { query, status: 'unavailable', source, resources: [], reason: result.reason };
  return {
    query,
    status: result.complete ? 'complete' : 'partial',
    source,
    resources: result.resources,
    ...(result.reason ? { reason: result.reason } : {}),
  };
}

async function fetchQuery(access: FhirAccess, query: DataQuery, url: string, opts: FetchOptions): Promise<QueryResult> {
  return query.kind === 'read' ? read(access, url, query.resourceType, opts) : search(access, url, opts);
}

/** The queries that would have to be fetched but cannot be, because there is no FHIR server. */
export function missingWithoutServer(planned: readonly PlannedQuery[], prefetch: Readonly<Record<string, unknown>>): DataQuery[] {
  return planned.filter((p) => p.url !== undefined && !fromPrefetch(p.query, prefetch).use).map((p) => p.query);
}

export async function gather(input: GatherInput): Promise<Gathered> {
  const signal = AbortSignal.timeout(input.timeoutMs);
  const opts: FetchOptions = { signal, timeoutMs: input.timeoutMs, maxPages: input.maxPages, fetch: input.fetch };
  let fhirRequests = 0;
  const count = (r: QueryResult): QueryResult => {
    fhirRequests += r.requests;
    return r;
  };
  const outcomes = await Promise.all(
    input.planned.map(async ({ query, url }): Promise<QueryOutcome> => {
      if (url === undefined) return { query, status: 'not-applicable', source: 'none', resources: [] };
      const pre = fromPrefetch(query, input.prefetch);
      if (pre.use) {
        if (!pre.continueFrom) return pre.outcome;
        if (!input.access) {
          return { ...pre.outcome, status: 'partial', reason: 'prefetch has further pages and there is no FHIR server' };
        }
        return toOutcome(query, count(await followPages(input.access, pre.continueFrom, opts)), 'prefetch');
      }
      if (!input.access) return { query, status: 'missing', source: 'none', resources: [] };
      return toOutcome(query, count(await fetchQuery(input.access, query, url, opts)), 'fhir');
    }),
  );
  return { outcomes, fhirRequests };
}
