import type { DecidedOrder } from '../../crd/response.js';
import { orderBodySites, orderReference } from '../../fhir/order.js';
import { sectionOfNode } from '../../rules/policy.js';
import { attestationsFor } from '../../rules/attestation.js';
import { decide } from '../../rules/decision.js';
import { environment } from '../../rules/environment.js';
import type { SharedDefinitions } from '../../rules/evaluate.js';
import { questionnaireUrl } from '../../rules/questionnaire.js';
import type { HookService } from '../registry.js';
import type { PipelineSettings } from '../settings.js';
import type { GatheredData } from './gather.js';
import type { Scoped } from './scope.js';
import type { ValidCall } from './validate.js';

/** Stage 4: the policy evaluated for each order in scope against everything gathered. */

export interface Evaluated {
  /** The day the orders were evaluated on, in the plan's time zone (YYYY-MM-DD). */
  readonly evaluationDate: string;
  /** One per order in scope, in the order of the draft orders. */
  readonly orders: readonly DecidedOrder[];
}

/** One formatter per time zone: building an Intl.DateTimeFormat costs far more than formatting with it. */
const dayFormats = new Map<string, Intl.DateTimeFormat>();

function dayFormat(timeZone: string): Intl.DateTimeFormat {
  let format = dayFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dayFormats.set(timeZone, format);
  }
  return format;
}

/** The calendar day (YYYY-MM-DD) of an instant in a time zone. */
export function dayIn(instant: Date, timeZone: string): string {
  return dayFormat(timeZone).format(instant);
}

export function evaluate(
  service: HookService,
  { request }: ValidCall,
  { inScope }: Scoped,
  data: GatheredData,
  { settings, now }: { settings: PipelineSettings; now: Date },
): Evaluated {
  const evaluationDate = dayIn(now, settings.timeZone);
  const resources = data.outcomes.flatMap((o) => o.resources);
  const incompleteData = data.incomplete.map((o) => o.query.key);
  const patientId = request.context.patientId;
  const questionnaire = questionnaireUrl(service.policy);
  const responses = resources.filter((r) => r.resourceType === 'QuestionnaireResponse');
  const shared: SharedDefinitions = new Map();
  const sectionOf = sectionOfNode(service.policy);
  const orders = inScope.map(({ order, match }) => ({
    order,
    codings: match.codings,
    decision: decide({
      shared,
      policy: service.policy,
      order,
      candidateSections: match.sections,
      env: environment({
        order,
        resources,
        patientId,
        evaluationDate,
        unavailableData: incompleteData,
        userId: request.context.userId,
        method: match.method,
      }),
      attestations: attestationsFor({
        responses,
        questionnaireUrl: questionnaire,
        patientId,
        orderReference: orderReference(order),
        maxAgeDays: service.policy.questionnaire.attestationMaxAgeDays,
        evaluationDate,
        order: { candidateSections: match.sections, sectionOf, bodySites: orderBodySites(order) },
      }),
      incompleteData,
    }),
  }));
  return { evaluationDate, orders };
}
