import type { Config } from '../server/config.js';
import { failure, type Failure } from '../server/outcome.js';
import { isBundle, isObject, isOperationOutcome, isResource } from '../fhir/bundle.js';
import { orderLabel, orderReference } from '../fhir/order.js';
import { applyPreferences, cardPreferences } from '../crd/configuration.js';
import { dataUnavailableCard } from '../crd/cards.js';
import { fhirAccess } from './fhir-client.js';
import { gather, missingWithoutServer, type Gathered, type PlannedQuery } from './gather.js';
import { expandTemplate, type TokenContext } from './prefetch.js';
import type { HookService } from './registry.js';
import { hookRequestSchema, parseWith, unprocessable, type HookRequest, type HookResponse } from './schemas.js';
import { isInScope, type DraftOrder } from './scope.js';
import type { DataQuery } from './service-definition.js';

/** The order-sign pipeline: validate → scope → gather → (evaluate) → respond. Errors are returned, not thrown. */

export interface PipelineDeps {
  readonly config: Config;
  readonly fetch: typeof fetch;
}

export interface OrderSignMetrics {
  hookInstance?: string;
  orders?: number;
  ordersInScope?: number;
  fhirRequests?: number;
  unavailable?: string[];
}

export type OrderSignResult =
  | { ok: true; response: HookResponse; metrics: OrderSignMetrics }
  | { ok: false; failure: Failure; metrics: OrderSignMetrics };

function tokenContext(req: HookRequest): TokenContext {
  const ctx = req.context;
  return {
    userId: ctx.userId,
    patientId: ctx.patientId.replace(/^Patient\//, ''),
    encounterId: ctx.encounterId ?? undefined,
  };
}

function prefetchProblem(query: DataQuery, value: unknown): string | undefined {
  if (value === null || isOperationOutcome(value)) return undefined;
  if (!isResource(value)) return 'must be a FHIR resource, an OperationOutcome or null';
  if (query.kind === 'search' && (isBundle(value) || value.resourceType === query.resourceType)) return undefined;
  if (query.kind === 'read' && value.resourceType === query.resourceType) return undefined;
  const expected = query.kind === 'search' ? 'a Bundle' : `a ${query.resourceType}`;
  return `must be ${expected} (the answer to ${query.template}), got ${value.resourceType}`;
}

function checkPrefetch(service: HookService, prefetch: Record<string, unknown>): Failure | undefined {
  for (const query of service.queries) {
    if (!Object.hasOwn(prefetch, query.key)) continue;
    const problem = prefetchProblem(query, prefetch[query.key]);
    if (problem) return unprocessable(`prefetch.${query.key}`, problem);
  }
  return undefined;
}

function draftOrders(req: HookRequest): DraftOrder[] {
  return (req.context.draftOrders.entry ?? []).map((e) => e.resource as DraftOrder);
}

function plan(service: HookService, ctx: TokenContext): PlannedQuery[] {
  return service.queries.map((query) => ({ query, url: expandTemplate(query.template, ctx) }));
}

function preconditionFailed(missing: readonly DataQuery[]): Failure {
  const list = missing.map((q) => `${q.key} (${q.template})`).join(', ');
  return failure(
    412,
    'incomplete',
    `Data needed for the orders in scope was not prefetched and no fhirServer was given to fetch it: ${list}`,
    missing.map((q) => `prefetch.${q.key}`),
  );
}

function respond(service: HookService, req: HookRequest, inScope: readonly DraftOrder[], gathered: Gathered): HookResponse {
  const def = service.definition;
  const incomplete = gathered.outcomes.filter((o) => o.status === 'unavailable' || o.status === 'partial');
  const cards =
    incomplete.length === 0
      ? []
      : [
          dataUnavailableCard(
            def.source,
            inScope.map((o) => ({ label: orderLabel(o, def.scope.orderCodes[0]?.system), reference: orderReference(o) })),
            incomplete.map((o) => ({
              description: o.query.description,
              reason: o.status === 'partial' ? `incomplete (${o.reason ?? 'not all pages'})` : (o.reason ?? 'unavailable'),
            })),
          ),
        ];
  return { cards: applyPreferences(cards, cardPreferences(req.extension, def.configurationOptions)), systemActions: [] };
}

export async function orderSign(service: HookService, body: unknown, deps: PipelineDeps): Promise<OrderSignResult> {
  const metrics: OrderSignMetrics = {};
  if (isObject(body) && typeof body['hookInstance'] === 'string') metrics.hookInstance = body['hookInstance'].slice(0, 200);
  const parsed = parseWith(hookRequestSchema, body);
  if (!parsed.ok) return { ok: false, failure: parsed.failure, metrics };
  const req = parsed.value;
  if (req.hook !== service.definition.hook) {
    return { ok: false, failure: unprocessable('hook', `this service answers ${service.definition.hook}, not ${req.hook}`), metrics };
  }
  const prefetch = req.prefetch ?? {};
  const prefetchFailure = checkPrefetch(service, prefetch);
  if (prefetchFailure) return { ok: false, failure: prefetchFailure, metrics };

  const orders = draftOrders(req);
  const inScope = orders.filter((o) => isInScope(o, service.definition.scope));
  metrics.orders = orders.length;
  metrics.ordersInScope = inScope.length;
  if (inScope.length === 0) return { ok: true, response: { cards: [], systemActions: [] }, metrics };

  const planned = plan(service, tokenContext(req));
  if (!req.fhirServer) {
    const missing = missingWithoutServer(planned, prefetch);
    if (missing.length > 0) return { ok: false, failure: preconditionFailed(missing), metrics };
  }
  const gathered = await gather({
    planned,
    prefetch,
    access: req.fhirServer ? fhirAccess(req.fhirServer, req.fhirAuthorization?.access_token) : undefined,
    timeoutMs: deps.config.fhirTimeoutMs,
    maxPages: deps.config.fhirMaxPages,
    fetch: deps.fetch,
  });
  metrics.fhirRequests = gathered.fhirRequests;
  const unavailable = gathered.outcomes.filter((o) => o.status === 'unavailable' || o.status === 'partial');
  if (unavailable.length > 0) metrics.unavailable = unavailable.map((o) => o.query.key);
  return { ok: true, response: respond(service, req, inScope, gathered), metrics };
}
