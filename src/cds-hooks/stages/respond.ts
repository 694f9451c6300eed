import { buildResponse, type ResponseService } from '../../crd/response.js';
import type { HookResponse } from '../../crd/hook-response.js';
import type { QueryOutcome } from '../gather.js';
import type { HookService } from '../registry.js';
import type { PipelineSettings } from '../settings.js';
import type { Evaluated } from './evaluate.js';
import type { GatheredData } from './gather.js';
import type { ValidCall } from './validate.js';

/** Stage 5: the decisions as cards and coverage-information system actions. */

/** The answer for a call with no order in scope: this service has nothing to say. */
export const nothingInScope = (): HookResponse => ({ cards: [], systemActions: [] });

/** What the clinician is told about data that could not be read; the reason label stays in the log. */
function unavailableText(o: QueryOutcome): string {
  if (o.status === 'partial') return 'only partly retrieved';
  return o.failure?.kind === 'timeout' ? 'the EHR did not answer in time' : 'the EHR could not provide it';
}

function responseService(service: HookService): ResponseService {
  const d = service.definition;
  return {
    policy: service.policy,
    cardTexts: service.cardTexts,
    source: d.source,
    configurationOptions: d.configurationOptions,
    preferredSystem: d.scope.orderCodes[0]?.system,
  };
}

export function respond(
  service: HookService,
  { request }: ValidCall,
  data: GatheredData,
  evaluated: Evaluated,
  settings: PipelineSettings,
): HookResponse {
  return buildResponse({
    service: responseService(service),
    orders: evaluated.orders,
    extension: request.extension,
    evaluationDate: evaluated.evaluationDate,
    baseUrl: settings.publicBaseUrl,
    policyUrl: settings.policyUrl,
    unavailableData: data.incomplete.map((o) => ({ description: o.query.description, reason: unavailableText(o) })),
  });
}
