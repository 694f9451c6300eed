import { failure, type Failure } from '../fhir/outcome.js';
import { isObject } from '../fhir/bundle.js';
import { orderReference, type DraftOrder } from '../fhir/order.js';
import { buildResponse } from '../crd/response.js';
import { failureLabel, fhirAccess, type FhirAccess } from './fhir-client.js';
import { classifyPrefetch, gather, isIncomplete, missingWithoutServer, type PlannedQuery, type QueryOutcome } from './gather.js';
import { expandTemplate, type TokenContext } from './prefetch.js';
import type { PipelineSettings } from './settings.js';
import type { HookService } from './registry.js';
import type { HookResponse } from '../crd/hook-response.js';
import { hookRequestSchema, parseWith, unprocessable, type HookRequest } from './schemas.js';
import { scopeMatch, type ScopeMatch } from './scope.js';
import { attestationsFor } from '../rules/attestation.js';
import { decide, type OrderDecision } from '../rules/decision.js';
import type { SharedDefinitions } from '../rules/evaluate.js';
import { environment } from '../rules/environment.js';
import { questionnaireUrl } from '../rules/questionnaire.js';
import type { DataQuery } from './service-definition.js';

/** The order-sign pipeline: validate → scope → gather → evaluate → respond. Errors are returned, not thrown. */

export interface PipelineDeps {
  readonly settings: PipelineSettings;
  readonly fetch: typeof fetch;
  /** Aborted when the client gives up on the call. */
  readonly signal?: AbortSignal;
  /** The clock; the evaluation date is its day in the plan's time zone (CDS_TIMEZONE). */
  readonly now?: () => Date;
  /** Whether the request's fhirServer may receive the access token (the allowlist, for the calling client). */
  readonly fhirServerAllowed?: (fhirServer: string) => boolean;
}

export interface OrderSignMetrics {
  hookInstance?: string;
  orders?: number;
  ordersInScope?: number;
  fhirRequests?: number;
  /** Query keys whose data was incomplete, with a non-identifying reason label. */
  unavailable?: string[];
  /** Why the client's FHIR server was not used, when it was named but refused. */
  fhirServerRefused?: string;
  /** The decision for each order in scope. */
  decisions?: string[];
}

export type OrderSignResult =
  | { ok: true; response: HookResponse; decisions: OrderDecision[]; metrics: OrderSignMetrics }
  | { ok: false; failure: Failure; metrics: OrderSignMetrics };

function tokenContext(req: HookRequest): TokenContext {
  const ctx = req.context;
  return { userId: ctx.userId, patientId: ctx.patientId, encounterId: ctx.encounterId };
}

function checkPrefetch(service: HookService, prefetch: Record<string, unknown>): Failure | undefined {
  for (const query of service.queries) {
    const slot = classifyPrefetch(query, prefetch);
    if (slot.kind === 'invalid') return unprocessable(`prefetch.${query.key}`, slot.problem);
  }
  return undefined;
}

/** The FHIR server the service may call for this request, or why it may not. */
function serverAccess(req: HookRequest, deps: PipelineDeps): { access?: FhirAccess; refused?: string } {
  if (!req.fhirServer) return {};
  if (deps.settings.production && new URL(req.fhirServer).protocol !== 'https:') return { refused: 'plain http in production' };
  if (deps.fhirServerAllowed && !deps.fhirServerAllowed(req.fhirServer)) return { refused: 'not on the FHIR server allowlist' };
  return { access: fhirAccess(req.fhirServer, req.fhirAuthorization?.access_token) };
}

/** Bounds on what one request may carry (beyond the body size), so one call cannot monopolize the service. */
function checkBounds(req: HookRequest, { limits }: PipelineSettings): Failure | undefined {
  const orders = req.context.draftOrders.entry?.length ?? 0;
  if (orders > limits.draftOrders) {
    return unprocessable('context.draftOrders.entry', `at most ${limits.draftOrders} draft orders per call`);
  }
  const resources = Object.values(req.prefetch ?? {}).reduce<number>(
    (n, v) => n + (isObject(v) && Array.isArray(v['entry']) ? v['entry'].length : 1),
    0,
  );
  if (resources > limits.resources) {
    return unprocessable('prefetch', `at most ${limits.resources} prefetched resources per call`);
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
    `Data needed for the orders in scope was neither prefetched nor fetchable from a fhirServer: ${list}`,
    missing.map((q) => `prefetch.${q.key}`),
  );
}

/** The calendar day (YYYY-MM-DD) of an instant in a time zone. */
export function dayIn(instant: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(instant);
}

function unavailableText(o: QueryOutcome): string {
  if (o.status === 'partial') return 'only partly retrieved';
  return o.failure?.kind === 'timeout' ? 'the EHR did not answer in time' : 'the EHR could not provide it';
}

/** `metrics` is filled as the call progresses, so a call abandoned midway is still logged with what is known. */
export async function orderSign(
  service: HookService,
  body: unknown,
  deps: PipelineDeps,
  metrics: OrderSignMetrics = {},
): Promise<OrderSignResult> {
  if (isObject(body) && typeof body['hookInstance'] === 'string') metrics.hookInstance = body['hookInstance'].slice(0, 200);
  const parsed = parseWith(hookRequestSchema, body);
  if (!parsed.ok) return { ok: false, failure: parsed.failure, metrics };
  const req = parsed.value;
  if (req.hook !== service.definition.hook) {
    return { ok: false, failure: unprocessable('hook', `this service answers ${service.definition.hook}`), metrics };
  }
  const bounds = checkBounds(req, deps.settings);
  if (bounds) return { ok: false, failure: bounds, metrics };
  const prefetch = req.prefetch ?? {};
  const prefetchFailure = checkPrefetch(service, prefetch);
  if (prefetchFailure) return { ok: false, failure: prefetchFailure, metrics };

  const orders = draftOrders(req);
  const inScope = orders.flatMap((order) => {
    const match = scopeMatch(order, service.definition.scope);
    return match ? [{ order, match }] : [];
  });
  metrics.orders = orders.length;
  metrics.ordersInScope = inScope.length;
  if (inScope.length === 0) return { ok: true, response: { cards: [], systemActions: [] }, decisions: [], metrics };

  const planned = plan(service, tokenContext(req));
  const { access, refused } = serverAccess(req, deps);
  if (refused) metrics.fhirServerRefused = refused;
  if (!access) {
    const missing = missingWithoutServer(planned, prefetch);
    if (missing.length > 0) return { ok: false, failure: preconditionFailed(missing), metrics };
  }
  const gathered = await gather({
    planned,
    prefetch,
    access,
    timeoutMs: deps.settings.fhirTimeoutMs,
    maxPages: deps.settings.fhirMaxPages,
    maxBytes: deps.settings.limits.fhirResponseBytes,
    budget: { resources: deps.settings.limits.resources, bytes: deps.settings.limits.fhirTotalBytes },
    fetch: deps.fetch,
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  metrics.fhirRequests = gathered.fhirRequests;
  const incomplete = gathered.outcomes.filter(isIncomplete);
  if (incomplete.length > 0) {
    metrics.unavailable = incomplete.map((o) => `${o.query.key}:${o.failure ? failureLabel(o.failure) : o.status}`);
  }
  const evaluationDate = dayIn(deps.now?.() ?? new Date(), deps.settings.timeZone);
  const decisions = evaluateOrders(service, req, inScope, gathered.outcomes, incomplete, { settings: deps.settings, evaluationDate });
  metrics.decisions = decisions.map((d) => d.outcome);
  const response = buildResponse({
    service: {
      policy: service.policy,
      cardTexts: service.cardTexts,
      source: service.definition.source,
      configurationOptions: service.definition.configurationOptions,
      preferredSystem: service.definition.scope.orderCodes[0]?.system,
    },
    orders: inScope.map((s, i) => ({ order: s.order, codings: s.match.codings, decision: decisions[i]! })),
    extension: req.extension,
    evaluationDate,
    baseUrl: deps.settings.publicBaseUrl,
    policyUrl: deps.settings.policyUrl,
    unavailableData: incomplete.map((o) => ({ description: o.query.description, reason: unavailableText(o) })),
  });
  return { ok: true, response, decisions, metrics };
}

/** Evaluates the policy for each order in scope against everything gathered. */
function evaluateOrders(
  service: HookService,
  req: HookRequest,
  inScope: readonly { order: DraftOrder; match: ScopeMatch }[],
  outcomes: readonly QueryOutcome[],
  incomplete: readonly QueryOutcome[],
  { settings, evaluationDate }: { settings: PipelineSettings; evaluationDate: string },
): OrderDecision[] {
  const resources = outcomes.flatMap((o) => o.resources);
  const incompleteData = incomplete.map((o) => o.query.key);
  const patientId = req.context.patientId;
  const questionnaire = questionnaireUrl(service.policy, { baseUrl: settings.publicBaseUrl });
  const responses = resources.filter((r) => r.resourceType === 'QuestionnaireResponse');
  const shared: SharedDefinitions = new Map();
  return inScope.map(({ order, match }) =>
    decide({
      shared,
      policy: service.policy,
      order,
      candidateSections: match.sections,
      env: environment({ order, resources, patientId, evaluationDate, unavailableData: incompleteData }),
      attestations: attestationsFor({
        responses,
        questionnaireUrl: questionnaire,
        patientId,
        orderReference: orderReference(order),
        maxAgeDays: service.policy.questionnaire.attestationMaxAgeDays,
        evaluationDate,
      }),
      incompleteData,
    }),
  );
}
