import { randomUUID } from 'node:crypto';
import { orderName, type DraftOrder } from '../fhir/order.js';
import type { Coding } from '../fhir/coding.js';
import type { OrderDecision } from '../rules/decision.js';
import type { Policy } from '../rules/policy.js';
import { questionnaireCanonical } from '../rules/questionnaire.js';
import type { CardTexts } from './card-texts.js';
import type { ServiceSource } from './cards.js';
import { applyPreferences, cardPreferences, type ConfigurationOption } from './configuration.js';
import type { Action, Card, HookResponse } from './hook-response.js';
import { coverageInformation, withAssertion, type Assertion } from './coverage-information.js';
import {
  decisionCard,
  exclusionName,
  noCoverageCard,
  priorAuthorizationCard,
  type CardContext,
  type OrderView,
} from './decision-cards.js';

/**
 * The order-sign answer for the orders a service owns: a coverage-information `update` per order (CRD), a card per
 * order, the prior-authorization instructions, a single card when the member has no coverage with the plan.
 */

export const COVERAGE_INFO = 'coverage-info';

/** What the answer needs of the service giving it. */
export interface ResponseService {
  readonly policy: Policy;
  readonly cardTexts: CardTexts;
  readonly source: ServiceSource;
  readonly configurationOptions: readonly ConfigurationOption[];
  /** The code system whose display names an order first. */
  readonly preferredSystem?: string | undefined;
}

export interface DecidedOrder {
  readonly order: DraftOrder;
  /** The order's codings that put it in scope (the billing codes of the assertion). */
  readonly codings: readonly Coding[];
  readonly decision: OrderDecision;
}

export interface ResponseInput {
  readonly service: ResponseService;
  readonly orders: readonly DecidedOrder[];
  readonly extension: Record<string, unknown> | null | undefined;
  readonly evaluationDate: string;
  readonly baseUrl: string;
  readonly policyUrl?: string | undefined;
  readonly unavailableData: readonly { description: string; reason: string }[];
}

function reasonText(d: OrderDecision, policyName: string): string {
  const ids = (nodes: readonly { id: string }[]) => nodes.map((n) => n.id).join(', ');
  switch (d.outcome) {
    case 'covered':
      return `Meets ${policyName} ${d.decisive.join(', ')}; prior authorization ${d.priorAuthorizationRequired ? 'required' : 'not required'}`;
    case 'documentation-needed':
      return d.toDocument.length > 0
        ? `Documentation needed for ${policyName}: ${ids(d.toDocument)}`
        : `Documentation needed for ${policyName}: data not available from the EHR (${d.incompleteData.join(', ')})`;
    case 'not-medically-necessary':
      return `Not medically necessary under ${policyName}: ${ids(d.failed)} not met`;
    case 'investigative':
      return `Investigative under ${policyName} exclusion ${d.decisive.map(exclusionName).join(', ')}`;
    case 'no-coverage':
      return 'No active coverage';
  }
}

/** The assertion for an order; none without a Coverage to name or an order id to update. */
function assertion(d: OrderDecision, codings: readonly Coding[], input: ResponseInput): Assertion | undefined {
  if (!d.coverage?.id || !d.reference) return undefined;
  const policy = input.service.policy;
  const pa = d.priorAuthorizationRequired ? ('auth-needed' as const) : ('no-auth' as const);
  const base = {
    coverage: `Coverage/${d.coverage.id}`,
    billingCodes: codings,
    reason: reasonText(d, input.service.cardTexts.policyName),
    date: input.evaluationDate,
    assertionId: randomUUID(),
  };
  switch (d.outcome) {
    case 'covered':
      return { ...base, covered: 'covered', paNeeded: pa };
    case 'documentation-needed':
      return {
        ...base,
        covered: 'conditional',
        paNeeded: pa,
        documentation: { questionnaire: questionnaireCanonical(policy) },
      };
    default:
      return { ...base, covered: 'not-covered' };
  }
}

export function buildResponse(input: ResponseInput): HookResponse {
  const { service } = input;
  const texts = service.cardTexts;
  const prefs = cardPreferences(input.extension, service.configurationOptions);
  const ctx: CardContext = {
    source: service.source,
    texts,
    priorAuthorizationText: service.policy.priorAuthorization.text,
    policyUrl: input.policyUrl ?? texts.policyUrl ?? `${input.baseUrl}/policies/${service.policy.id}`,
    unavailableData: input.unavailableData,
    nodes: service.policy.nodes,
  };
  const { preferredSystem } = service;
  const views: OrderView[] = input.orders.map(({ order, codings, decision }) => ({
    decision,
    label: orderName(order, preferredSystem),
    codings,
    methodNote: codings.some((c) => c.code !== undefined && texts.methodNoteCodes.includes(c.code)),
  }));

  const systemActions: Action[] = prefs.disabledTopics.has(COVERAGE_INFO)
    ? []
    : input.orders.flatMap(({ order, codings, decision }) => {
        const a = assertion(decision, codings, input);
        if (!a) return [];
        return [
          {
            type: 'update' as const,
            description: `${service.source.label} coverage assertion for ${orderName(order, preferredSystem)}: ${a.covered}`,
            resource: withAssertion(order, coverageInformation(a)),
          },
        ];
      });

  const uncovered = views.filter((v) => v.decision.outcome === 'no-coverage');
  const cards: Card[] = [
    ...views.filter((v) => v.decision.outcome !== 'no-coverage').map((v) => decisionCard(v, ctx)),
    ...(uncovered.length > 0 ? [noCoverageCard(uncovered, ctx)] : []),
  ];
  const pa = priorAuthorizationCard(views, ctx);
  if (pa) cards.push(pa);
  return { cards: applyPreferences(cards, prefs), systemActions };
}
