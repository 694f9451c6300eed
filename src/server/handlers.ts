import type { Request, RequestHandler, Response } from 'express';
import { fhirServerAllowed } from '../auth/fhir-allowlist.js';
import { discoveryDocument } from '../cds-hooks/discovery.js';
import { parseFeedback } from '../cds-hooks/feedback.js';
import { orderSign } from '../cds-hooks/order-sign.js';
import type { HookService, Registry } from '../cds-hooks/registry.js';
import { policyPage } from '../crd/policy-page.js';
import { failure, methodNotAllowed, notFound, type Failure } from '../fhir/outcome.js';
import { buildQuestionnaire, questionnaireMatches } from '../rules/questionnaire.js';
import { clientOf, requestBaseUrl } from './authentication.js';
import { parseJson } from './body.js';
import type { Config } from './config.js';
import { pipelineSettings } from './pipeline-settings.js';
import { logFields } from './request-log.js';
import { sendFailure } from './send.js';

/** What each route does; routes.ts says which path and method lead here. */

export interface HandlerDeps {
  readonly config: Config;
  readonly registry: Registry;
  readonly fetch: typeof fetch;
  readonly now?: (() => Date) | undefined;
}

export interface Handlers {
  readonly health: RequestHandler;
  readonly discovery: RequestHandler;
  readonly hookCall: RequestHandler;
  readonly feedback: RequestHandler;
  readonly questionnaire: RequestHandler;
  /** GET /fhir/Questionnaire?url=<canonical>[&version=]: a searchset Bundle, empty when nothing matches. */
  readonly questionnaireSearch: RequestHandler;
  readonly policyPage: RequestHandler;
  /** Another method on a service URL: 405 for a known service, 404 for an unknown one. */
  readonly serviceOnly: (allowed: readonly string[]) => RequestHandler;
}

/** A signal that fires when the client closes the connection before the answer is sent. */
function clientGone(res: Response): AbortSignal {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

const param = (req: Request, name: string): string => String(req.params[name]);

type QuestionnaireQuery = { ok: true; url?: string; version?: string } | { ok: false; failure: Failure };

/** The search parameters this server supports on Questionnaire: `url` and `version`, each at most once. */
function questionnaireQuery(query: Request['query']): QuestionnaireQuery {
  const supported = ['url', 'version', '_format'];
  const unknown = Object.keys(query).find((k) => !supported.includes(k));
  if (unknown) return { ok: false, failure: failure(400, 'not-supported', `Search parameter "${unknown.slice(0, 50)}" is not supported on Questionnaire (use url and version)`) };
  const one = (name: string): string | undefined | null => {
    const v = query[name];
    return v === undefined ? undefined : typeof v === 'string' ? v : null;
  };
  const url = one('url');
  const version = one('version');
  if (url === null || version === null) return { ok: false, failure: failure(400, 'invalid', 'url and version may each be given once') };
  return { ok: true, ...(url !== undefined ? { url } : {}), ...(version !== undefined ? { version } : {}) };
}

function searchset(resources: readonly fhir4.Resource[], base: string): fhir4.Bundle {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    entry: resources.map((r) => ({ fullUrl: `${base}/fhir/${r.resourceType}/${r.id ?? ''}`, resource: r, search: { mode: 'match' } })),
  };
}

export function handlers({ config, registry, fetch, now }: HandlerDeps): Handlers {
  const settings = pipelineSettings(config);
  const unknownService = (id: string) => notFound(`No CDS service with id "${id.slice(0, 100)}"`);

  /** The service named in the path and the parsed JSON body, or the failure already sent. */
  function serviceCall(req: Request, res: Response): { service: HookService; json: unknown } | undefined {
    const id = param(req, 'id');
    const service = registry.get(id);
    if (!service) {
      sendFailure(res, unknownService(id));
      return undefined;
    }
    logFields(res).serviceId = id;
    const json = parseJson(req.body, config.limits.jsonDepth);
    if (!json.ok) {
      sendFailure(res, json.failure);
      return undefined;
    }
    return { service, json: json.value };
  }

  const questionnaires = registry.services.map((s) => ({ policy: s.policy, resource: buildQuestionnaire(s.policy) }));
  const questionnaireById = new Map(questionnaires.map((q) => [q.policy.questionnaire.id, q.resource]));
  const policyPages = new Map(registry.services.map((s) => [s.policy.id, policyPage(s.policy, s.definition.source.label)]));

  return {
    health: (_req, res) => {
      res.json({ status: 'ok' });
    },
    discovery: (_req, res) => {
      res.json(discoveryDocument(registry, config.prefetchMode));
    },
    hookCall: async (req, res) => {
      const call = serviceCall(req, res);
      if (!call) return;
      const clientServers = clientOf(res)?.fhirServers ?? [];
      const pipeline = {
        settings,
        fetch,
        signal: clientGone(res),
        fhirServerAllowed: (url: string) => fhirServerAllowed(url, config.fhirAllowlist, clientServers, config.production),
        ...(now ? { now } : {}),
      };
      const result = await orderSign(call.service, call.json, pipeline, logFields(res));
      if (!result.ok) return sendFailure(res, result.failure);
      res.json(result.response);
    },
    feedback: (req, res) => {
      const call = serviceCall(req, res);
      if (!call) return;
      const feedback = parseFeedback(call.json);
      if (!feedback.ok) return sendFailure(res, feedback.failure);
      logFields(res).feedback = feedback.value;
      res.status(200).end();
    },
    questionnaireSearch: (req, res) => {
      const query = questionnaireQuery(req.query);
      if (!query.ok) return sendFailure(res, query.failure);
      const found = questionnaires.filter((q) => query.url === undefined || questionnaireMatches(q.policy, query.url, query.version));
      res.type('application/fhir+json').send(JSON.stringify(searchset(found.map((q) => q.resource), requestBaseUrl(req))));
    },
    questionnaire: (req, res) => {
      const q = questionnaireById.get(param(req, 'id'));
      if (!q) return sendFailure(res, notFound(`No Questionnaire with id "${param(req, 'id').slice(0, 100)}"`));
      res.type('application/fhir+json').send(JSON.stringify(q));
    },
    policyPage: (req, res) => {
      const page = policyPages.get(param(req, 'id'));
      if (!page) return sendFailure(res, notFound(`No policy "${param(req, 'id').slice(0, 100)}"`));
      res.type('text/html').send(page);
    },
    serviceOnly: (allowed) => (req, res) =>
      sendFailure(res, registry.get(param(req, 'id')) ? methodNotAllowed(allowed) : unknownService(param(req, 'id'))),
  };
}
