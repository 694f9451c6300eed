import { isObject } from '../../fhir/bundle.js';
import { draftOrderProblem } from '../../fhir/order.js';
import type { Failure } from '../../fhir/outcome.js';
import { classifyPrefetch } from '../gather.js';
import type { HookService } from '../registry.js';
import { hookRequestSchema, parseWith, unprocessable, type HookRequest } from '../schemas.js';
import type { PipelineSettings } from '../settings.js';
import type { StageResult } from './result.js';

/** Stage 1: the body is a CDS Hooks call this service answers, within the bounds of one call. */

export interface ValidCall {
  readonly request: HookRequest;
  /** The prefetch, `{}` when none was sent; every value is usable or stands for data to fetch. */
  readonly prefetch: Readonly<Record<string, unknown>>;
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

/** Each draft order is a request resource for the call's patient (422 naming the entry otherwise). */
function checkDraftOrders(req: HookRequest): Failure | undefined {
  const entries = req.context.draftOrders.entry ?? [];
  for (const [i, entry] of entries.entries()) {
    const problem = draftOrderProblem(
      entry.resource,
      req.context.patientId,
      `context.draftOrders.entry[${i}].resource`,
    );
    if (problem) return unprocessable(problem.path, problem.message);
  }
  // Each order gets its own assertion, kept under its reference: two drafts with one reference would mix them up.
  const seen = new Set<string>();
  for (const [i, entry] of entries.entries()) {
    const r = entry.resource as { resourceType?: unknown; id?: unknown };
    if (typeof r.id !== 'string') continue;
    const ref = `${String(r.resourceType)}/${r.id}`;
    if (seen.has(ref)) {
      return unprocessable(
        `context.draftOrders.entry[${i}].resource.id`,
        `two draft orders are ${ref}: give each order its own id`,
      );
    }
    seen.add(ref);
  }
  return undefined;
}

function checkPrefetch(service: HookService, prefetch: Readonly<Record<string, unknown>>): Failure | undefined {
  for (const query of service.queries) {
    const slot = classifyPrefetch(query, prefetch);
    if (slot.kind === 'invalid') return unprocessable(`prefetch.${query.key}`, slot.problem);
  }
  return undefined;
}

export function validate(service: HookService, body: unknown, settings: PipelineSettings): StageResult<ValidCall> {
  const parsed = parseWith(hookRequestSchema, body);
  if (!parsed.ok) return parsed;
  const request = parsed.value;
  if (request.hook !== service.definition.hook) {
    return { ok: false, failure: unprocessable('hook', `this service answers ${service.definition.hook}`) };
  }
  const prefetch = request.prefetch ?? {};
  const failure = checkBounds(request, settings) ?? checkDraftOrders(request) ?? checkPrefetch(service, prefetch);
  return failure ? { ok: false, failure } : { ok: true, value: { request, prefetch } };
}
