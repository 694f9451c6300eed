import { createHash } from 'node:crypto';
import { ASSOCIATED_RESOURCE } from '../../crd/cards.js';
import { COVERAGE_INFORMATION } from '../../crd/coverage-information.js';
import type { DecidedOrder } from '../../crd/response.js';
import type { Action, Card, HookResponse } from '../../crd/hook-response.js';
import { isObject, type Rec } from '../../fhir/bundle.js';
import { failure, type Failure } from '../../fhir/outcome.js';
import { orderReference } from '../../fhir/order.js';
import type { Policy } from '../../rules/policy.js';
import type { AssertionRecord, CardLink, PersistPort } from '../persist.js';
import type { HookService } from '../registry.js';
import type { StageResult } from './result.js';
import type { Evaluated } from './evaluate.js';
import type { ValidCall } from './validate.js';

/**
 * Stage 6: the call's assertions, card links and audit record committed before the answer leaves. An order that
 * already carries this service's coverage-information, under an assertion id the store knows, whose decision is
 * unchanged gets no new system action (CRD: "SHALL NOT send an update unless something is new"); its assertion
 * id stays valid and the new cards link to it. Without the store the call is a 503: no unpersisted id is sent.
 */

export interface PersistOutcome {
  readonly response: HookResponse;
  /** Assertion ids written by this call. */
  readonly written: readonly string[];
  /** Assertion ids kept because nothing was new. */
  readonly kept: readonly string[];
}

/** The sub-extensions that make a decision; a change in any of them is something new. */
const DECISION_PARTS = [
  'coverage',
  'covered',
  'pa-needed',
  'doc-needed',
  'doc-purpose',
  'info-needed',
  'reason',
  'questionnaire',
  'billingCode',
];

export const storeUnavailable = (): Failure => ({
  ...failure(503, 'exception', 'Coverage assertions cannot be recorded right now; retry shortly'),
  headers: { 'Retry-After': '5' },
});

type Extension = Rec & { url: string };

function subExtensions(ext: unknown): Extension[] {
  return isObject(ext) && Array.isArray(ext['extension'])
    ? ext['extension'].filter((e): e is Extension => isObject(e) && typeof e['url'] === 'string')
    : [];
}

function valueOf(sub: Extension): unknown {
  const key = Object.keys(sub).find((k) => k.startsWith('value'));
  return key === undefined ? undefined : sub[key];
}

function part(ext: unknown, url: string): unknown {
  return valueOf(subExtensions(ext).find((e) => e.url === url) ?? { url });
}

function assertionIdOf(ext: unknown): string | undefined {
  const id = part(ext, 'coverage-assertion-id');
  return typeof id === 'string' ? id : undefined;
}

function coverageOf(ext: unknown): string | undefined {
  const ref = part(ext, 'coverage');
  return isObject(ref) && typeof ref['reference'] === 'string' ? ref['reference'] : undefined;
}

function coverageInformations(resource: unknown): Rec[] {
  return isObject(resource) && Array.isArray(resource['extension'])
    ? resource['extension'].filter((e): e is Rec => isObject(e) && e['url'] === COVERAGE_INFORMATION)
    : [];
}

/** JSON with object keys sorted (PostgreSQL jsonb does not keep key order). */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- JSON.stringify(undefined) is undefined, though lib.d.ts says string
  if (!isObject(value)) return JSON.stringify(value) ?? 'null';
  return `{${Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
    .join(',')}}`;
}

/** The decision an extension states, in a form that compares equal when nothing is new (repeats sorted). */
export function decisionSignature(ext: unknown): string {
  const subs = subExtensions(ext);
  return JSON.stringify(
    DECISION_PARTS.map((url) => [
      url,
      subs
        .filter((e) => e.url === url)
        .map((e) => canonical(valueOf(e)))
        .sort(),
    ]),
  );
}

const versions = new WeakMap<Policy, string>();
/** The policy's version: a hash of its text (the policy files carry no version of their own). */
function policyVersion(policy: Policy): string {
  let v = versions.get(policy);
  if (v === undefined) {
    v = `sha256:${createHash('sha256').update(policy.text).digest('hex').slice(0, 16)}`;
    versions.set(policy, v);
  }
  return v;
}

/** The trace kept with an assertion: the decision with its evidence, the Coverage named by reference only. */
function trace(decided: DecidedOrder): unknown {
  const { coverage, ...rest } = decided.decision;
  return { ...rest, coverage: coverage?.id ? `Coverage/${coverage.id}` : null, codings: decided.codings };
}

interface Planned {
  readonly action: Action;
  readonly decided: DecidedOrder;
  readonly ext: Rec;
  readonly id: string;
  readonly orderRef: string;
  readonly coverageRef: string;
}

/** The coverage-information a system action adds (the one the incoming order does not carry). */
function plan(action: Action, byRef: ReadonlyMap<string, DecidedOrder>): Planned | undefined {
  const orderRef = action.type === 'update' && isObject(action.resource) ? orderReference(action.resource) : undefined;
  const decided = orderRef === undefined ? undefined : byRef.get(orderRef);
  if (orderRef === undefined || decided === undefined) return undefined;
  const before = new Set(coverageInformations(decided.order).map(assertionIdOf));
  const ext = coverageInformations(action.resource).find((e) => !before.has(assertionIdOf(e)));
  const id = assertionIdOf(ext);
  const coverageRef = coverageOf(ext);
  if (ext === undefined || id === undefined || coverageRef === undefined) return undefined;
  return { action, decided, ext, id, orderRef, coverageRef };
}

function record(service: HookService, call: ValidCall, p: Planned): AssertionRecord {
  const questionnaire = part(p.ext, 'questionnaire');
  const canonical = typeof questionnaire === 'string' ? questionnaire : null;
  return {
    id: p.id,
    serviceId: service.definition.id,
    hookInstance: call.request.hookInstance,
    orderRef: p.orderRef,
    orderCode: p.decided.codings[0]?.code ?? null,
    coverageRef: p.coverageRef,
    patientRef: call.request.context.patientId ? `Patient/${call.request.context.patientId}` : null,
    decision: p.decided.decision.outcome,
    coverageInformation: p.ext,
    trace: trace(p.decided),
    policyVersion: policyVersion(service.policy),
    questionnaireCanonical: canonical,
    questionnaireVersion: canonical?.includes('|') ? canonical.slice(canonical.indexOf('|') + 1) : null,
    orderSnapshot: p.decided.order,
  };
}

function cardLinks(cards: readonly Card[], assertionByOrder: ReadonlyMap<string, string>): CardLink[] {
  return cards.flatMap((card) => {
    const refs = isObject(card.extension) ? card.extension[ASSOCIATED_RESOURCE] : undefined;
    const first = Array.isArray(refs)
      ? refs.find((r): r is string => typeof r === 'string' && assertionByOrder.has(r))
      : undefined;
    return card.uuid !== undefined && first !== undefined
      ? [{ cardUuid: card.uuid, assertionId: assertionByOrder.get(first)! }]
      : [];
  });
}

/** The assertion ids the incoming orders already carry. */
function knownIds(byRef: ReadonlyMap<string, DecidedOrder>): Set<string | undefined> {
  return new Set([...byRef.values()].flatMap((o) => coverageInformations(o.order).map(assertionIdOf)));
}

/** Is the order's own coverage-information for this coverage an assertion of this service with the same decision? */
async function unchanged(
  port: PersistPort,
  service: HookService,
  p: Planned,
): Promise<StageResult<string | undefined>> {
  const prior = coverageInformations(p.decided.order).find((e) => coverageOf(e) === p.coverageRef);
  const priorId = assertionIdOf(prior);
  if (priorId === undefined) return { ok: true, value: undefined };
  const known = await port.priorAssertion(priorId);
  if (!known.ok) return { ok: false, failure: storeUnavailable() };
  const stored = known.value;
  const same =
    stored !== undefined &&
    stored.serviceId === service.definition.id &&
    stored.orderRef === p.orderRef &&
    stored.coverageRef === p.coverageRef &&
    decisionSignature(stored.coverageInformation) === decisionSignature(p.ext) &&
    // What the order carries must be what was handed out: an edited copy under a known id gets a new assertion.
    decisionSignature(prior) === decisionSignature(stored.coverageInformation);
  return { ok: true, value: same ? priorId : undefined };
}

export async function persist(
  service: HookService,
  call: ValidCall,
  evaluated: Evaluated,
  response: HookResponse,
  port: PersistPort,
): Promise<StageResult<PersistOutcome>> {
  const byRef = new Map(
    evaluated.orders.flatMap((o) => (o.decision.reference ? [[o.decision.reference, o] as const] : [])),
  );
  const systemActions: Action[] = [];
  const assertions: AssertionRecord[] = [];
  const assertionByOrder = new Map<string, string>();
  const kept: string[] = [];
  for (const action of response.systemActions) {
    const p = plan(action, byRef);
    if (p === undefined) {
      // Not an assertion this stage can record: sent only if it carries no coverage-information of its own.
      if (coverageInformations(action.resource).every((e) => isObject(e) && knownIds(byRef).has(assertionIdOf(e))))
        systemActions.push(action);
      continue;
    }
    const prior = await unchanged(port, service, p);
    if (!prior.ok) return prior;
    if (prior.value !== undefined) {
      kept.push(prior.value);
      assertionByOrder.set(p.orderRef, prior.value);
      continue;
    }
    systemActions.push(action);
    assertions.push(record(service, call, p));
    assertionByOrder.set(p.orderRef, p.id);
  }
  const answer: HookResponse = { cards: response.cards, systemActions };
  const result = await port.recordCall({
    serviceId: service.definition.id,
    hookInstance: call.request.hookInstance,
    assertions,
    cardLinks: cardLinks(answer.cards, assertionByOrder),
    response: answer,
  });
  if (!result.ok) return { ok: false, failure: storeUnavailable() };
  return { ok: true, value: { response: answer, written: assertions.map((a) => a.id), kept } };
}
