import type { HookResponse } from '../crd/hook-response.js';
import { isObject } from '../fhir/bundle.js';
import type { Failure } from '../fhir/outcome.js';
import type { OrderDecision } from '../rules/decision.js';
import type { HookService } from './registry.js';
import { evaluate } from './stages/evaluate.js';
import { gatherData, unavailableLabels, type GatherDeps } from './stages/gather.js';
import { persist } from './stages/persist.js';
import { nothingInScope, respond } from './stages/respond.js';
import type { PersistPort } from './persist.js';
import { scope } from './stages/scope.js';
import { validate } from './stages/validate.js';

/** The order-sign pipeline: validate → scope → gather → evaluate → respond → persist. Errors are returned, not thrown. */

export interface PipelineDeps extends GatherDeps {
  /** The clock; the evaluation date is its day in the plan's time zone (CDS_TIMEZONE). */
  readonly now?: () => Date;
  /** Where the call's assertions and audit record are committed before the answer; absent in scripts and unit tests. */
  readonly persist?: PersistPort | undefined;
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
  /** Assertions committed by this call, and kept because nothing was new. */
  assertionsWritten?: number;
  assertionsKept?: number;
}

export type OrderSignResult =
  /** `persisted`: the call's audit record was committed with its assertions (else the caller records it). */
  | { ok: true; response: HookResponse; decisions: OrderDecision[]; metrics: OrderSignMetrics; persisted: boolean }
  | { ok: false; failure: Failure; metrics: OrderSignMetrics };

/** `metrics` is filled as the call progresses, so a call abandoned midway is still logged with what is known. */
export async function orderSign(
  service: HookService,
  body: unknown,
  deps: PipelineDeps,
  metrics: OrderSignMetrics = {},
): Promise<OrderSignResult> {
  if (isObject(body) && typeof body['hookInstance'] === 'string')
    metrics.hookInstance = body['hookInstance'].slice(0, 200);
  const call = validate(service, body, deps.settings);
  if (!call.ok) return { ok: false, failure: call.failure, metrics };

  const scoped = scope(service, call.value);
  metrics.orders = scoped.orderCount;
  metrics.ordersInScope = scoped.inScope.length;
  if (scoped.inScope.length === 0)
    return { ok: true, response: nothingInScope(), decisions: [], metrics, persisted: false };

  const data = await gatherData(service, call.value, deps);
  if (data.fhirServerRefused) metrics.fhirServerRefused = data.fhirServerRefused;
  if (!data.ok) return { ok: false, failure: data.failure, metrics };
  metrics.fhirRequests = data.value.fhirRequests;
  if (data.value.incomplete.length > 0) metrics.unavailable = unavailableLabels(data.value);

  const evaluated = evaluate(service, call.value, scoped, data.value, {
    settings: deps.settings,
    now: deps.now?.() ?? new Date(),
  });
  const decisions = evaluated.orders.map((o) => o.decision);
  metrics.decisions = decisions.map((d) => d.outcome);

  const response = respond(service, call.value, data.value, evaluated, deps.settings);
  if (!deps.persist) return { ok: true, response, decisions, metrics, persisted: false };
  const persisted = await persist(service, call.value, evaluated, response, deps.persist);
  if (!persisted.ok) return { ok: false, failure: persisted.failure, metrics };
  metrics.assertionsWritten = persisted.value.written.length;
  metrics.assertionsKept = persisted.value.kept.length;
  return { ok: true, response: persisted.value.response, decisions, metrics, persisted: true };
}
