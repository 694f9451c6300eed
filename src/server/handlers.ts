import type { Request, RequestHandler, Response } from 'express';
import { fhirServerAllowed } from '../auth/fhir-allowlist.js';
import { discoveryDocument } from '../cds-hooks/discovery.js';
import { parseFeedback, type FeedbackEntry } from '../cds-hooks/feedback.js';
import { isObject } from '../fhir/bundle.js';
import { orderSign } from '../cds-hooks/order-sign.js';
import type { HookService, Registry } from '../cds-hooks/registry.js';
import { policyPage } from '../crd/policy-page.js';
import { failure, methodNotAllowed, notFound, type Failure } from '../fhir/outcome.js';
import { buildQuestionnaire, questionnaireMatches } from '../rules/questionnaire.js';
import { isStoreUnavailable, type StoredAssertion, type StoredFeedback } from '../store/index.js';
import { consumerOf } from './admin.js';
import { clientOf, requestBaseUrl } from './authentication.js';
import { parseJson } from './body.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { auditInput, persistPort, recordAuditLater, requestMeta, type CallAudit } from './persistence.js';
import { pipelineSettings } from './pipeline-settings.js';
import { logFields } from './request-log.js';
import { sendFailure } from './send.js';
import type { StoreHolder } from './store-holder.js';

/** What each route does; routes.ts says which path and method lead here. */

export interface HandlerDeps {
  readonly config: Config;
  readonly registry: Registry;
  readonly fetch: typeof fetch;
  readonly now?: (() => Date) | undefined;
  readonly store: StoreHolder;
  readonly metrics: Metrics;
  readonly logger: Logger;
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
  readonly ready: RequestHandler;
  readonly metrics: RequestHandler;
  readonly coverageAssertion: RequestHandler;
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
  if (unknown)
    return {
      ok: false,
      failure: failure(
        400,
        'not-supported',
        `Search parameter "${unknown.slice(0, 50)}" is not supported on Questionnaire (use url and version)`,
      ),
    };
  const one = (name: string): string | undefined | null => {
    const v = query[name];
    return v === undefined ? undefined : typeof v === 'string' ? v : null;
  };
  const url = one('url');
  const version = one('version');
  if (url === null || version === null)
    return { ok: false, failure: failure(400, 'invalid', 'url and version may each be given once') };
  return { ok: true, ...(url !== undefined ? { url } : {}), ...(version !== undefined ? { version } : {}) };
}

function searchset(resources: readonly fhir4.Resource[], base: string): fhir4.Bundle {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    entry: resources.map((r) => ({
      fullUrl: `${base}/fhir/${r.resourceType}/${r.id ?? ''}`,
      resource: r,
      search: { mode: 'match' },
    })),
  };
}

const storeUnavailable = () => ({
  ...failure(503, 'exception', 'The store is unavailable; retry shortly'),
  headers: { 'Retry-After': '5' },
});

/** What the payer's claims and PA systems read of an assertion: all of it, with the feedback on its cards. */
function assertionView(a: StoredAssertion, feedback: readonly StoredFeedback[]): Record<string, unknown> {
  return { ...a, feedback };
}

export function handlers({ config, registry, fetch: rawFetch, now, store, metrics, logger }: HandlerDeps): Handlers {
  const settings = pipelineSettings(config);
  const fetch = metrics.instrumentFetch(rawFetch);
  const callAudit = (
    req: Request,
    res: Response,
    kind: CallAudit['kind'],
    body: unknown,
    startedAt: number,
  ): CallAudit => ({
    kind,
    clientIss: clientOf(res)?.iss ?? null,
    serviceId: typeof req.params['id'] === 'string' && kind !== 'admin-lookup' ? req.params['id'].slice(0, 200) : null,
    hookInstance:
      isObject(body) && typeof body['hookInstance'] === 'string' ? body['hookInstance'].slice(0, 200) : null,
    requestMeta: requestMeta(req, body),
    startedAt,
  });
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

  /**
   * Feedback entries stored, each linked to its card's assertion when that was issued to this caller; the number
   * that named another client's card, or undefined when the store cannot take them now.
   */
  async function writeFeedback(
    serviceId: string,
    entries: readonly FeedbackEntry[],
    clientIss: string | null,
  ): Promise<{ otherClientEntries: number } | undefined> {
    const open = await store.get();
    if (open === undefined) return undefined;
    try {
      const { otherClientEntries } = await open.store.recordFeedback(
        entries.map((e) => ({
          serviceId,
          card: e.card,
          outcome: e.outcome,
          outcomeTimestamp: e.outcomeTimestamp,
          overrideReason: e.overrideReason ?? null,
          userComment: e.userComment ?? null,
          acceptedSuggestions: [...e.acceptedSuggestions],
        })),
        { clientIss },
      );
      return { otherClientEntries };
    } catch (error) {
      if (isStoreUnavailable(error)) return undefined;
      throw error;
    }
  }

  async function readAssertion(id: string): Promise<Record<string, unknown> | undefined | 'unavailable'> {
    const open = await store.get();
    if (open === undefined) return 'unavailable';
    try {
      const assertion = await open.store.getAssertion(id);
      return assertion === undefined ? undefined : assertionView(assertion, await open.store.feedbackForAssertion(id));
    } catch (error) {
      if (isStoreUnavailable(error)) return 'unavailable';
      throw error;
    }
  }

  const questionnaires = registry.services.map((s) => ({ policy: s.policy, resource: buildQuestionnaire(s.policy) }));
  const questionnaireById = new Map(questionnaires.map((q) => [q.policy.questionnaire.id, q.resource]));
  const policyPages = new Map(
    registry.services.map((s) => [s.policy.id, policyPage(s.policy, s.definition.source.label)]),
  );

  return {
    health: (_req, res) => {
      res.json({ status: 'ok' });
    },
    discovery: (req, res) => {
      const startedAt = performance.now();
      const document = discoveryDocument(registry, config.prefetchMode);
      res.json(document);
      recordAuditLater(
        store,
        logger,
        auditInput(callAudit(req, res, 'discovery', undefined, startedAt), 200, { services: document.services.length }),
      );
    },
    hookCall: async (req, res) => {
      const startedAt = performance.now();
      const call = serviceCall(req, res);
      if (!call) return;
      const audit = callAudit(req, res, 'hook-call', call.json, startedAt);
      const clientServers = clientOf(res)?.fhirServers ?? [];
      const pipeline = {
        settings,
        fetch,
        signal: clientGone(res),
        fhirServerAllowed: (url: string) =>
          fhirServerAllowed(url, config.fhirAllowlist, clientServers, config.production),
        persist: persistPort(store, audit),
        ...(now ? { now } : {}),
      };
      const result = await orderSign(call.service, call.json, pipeline, logFields(res));
      const status = result.ok ? 200 : result.failure.status;
      metrics.orderSign(
        call.service.definition.id,
        status,
        result.metrics.decisions ?? [],
        (performance.now() - startedAt) / 1000,
      );
      if (!result.ok) {
        sendFailure(res, result.failure);
        recordAuditLater(store, logger, auditInput(audit, status, result.failure.outcome));
        return;
      }
      res.json(result.response);
      if (!result.persisted) recordAuditLater(store, logger, auditInput(audit, 200, result.response));
    },
    feedback: async (req, res) => {
      const startedAt = performance.now();
      const call = serviceCall(req, res);
      if (!call) return;
      const audit = callAudit(req, res, 'feedback', undefined, startedAt);
      const feedback = parseFeedback(call.json);
      if (!feedback.ok) {
        sendFailure(res, feedback.failure);
        recordAuditLater(store, logger, auditInput(audit, feedback.failure.status, feedback.failure.outcome));
        return;
      }
      logFields(res).feedback = feedback.value.summaries;
      const written = await writeFeedback(call.service.definition.id, feedback.value.entries, audit.clientIss);
      // CDS Hooks feedback has no per-card error: a card of another client is answered 200 too, stored unlinked,
      // and only counted in the audit record (nothing of the other client is named).
      if (written !== undefined) res.status(200).end();
      else sendFailure(res, storeUnavailable());
      recordAuditLater(
        store,
        logger,
        auditInput(audit, written !== undefined ? 200 : 503, {
          feedback: feedback.value.summaries,
          ...(written !== undefined ? { otherClientEntries: written.otherClientEntries } : {}),
        }),
      );
    },
    ready: async (_req, res) => {
      const storeReady = await store.ready();
      const hooksLoaded = registry.services.length > 0;
      const ok = storeReady && hooksLoaded;
      res.status(ok ? 200 : 503).json({
        status: ok ? 'ready' : 'not-ready',
        store: storeReady ? 'up' : 'down',
        hooks: registry.services.length,
      });
    },
    metrics: async (_req, res) => {
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    },
    coverageAssertion: async (req, res) => {
      const startedAt = performance.now();
      const id = param(req, 'id').slice(0, 200);
      const consumer = consumerOf(res)?.name ?? 'unknown';
      const audit: CallAudit = { ...callAudit(req, res, 'admin-lookup', undefined, startedAt), consumer };
      const found = await readAssertion(id);
      if (found === 'unavailable') {
        sendFailure(res, storeUnavailable());
        recordAuditLater(store, logger, auditInput(audit, 503, null));
        return;
      }
      if (found === undefined) {
        sendFailure(res, notFound(`No coverage assertion "${id}"`));
        recordAuditLater(store, logger, auditInput(audit, 404, null));
        return;
      }
      res.json(found);
      recordAuditLater(store, logger, auditInput(audit, 200, { assertion: id }));
    },
    questionnaireSearch: (req, res) => {
      const query = questionnaireQuery(req.query);
      if (!query.ok) {
        sendFailure(res, query.failure);
        return;
      }
      const found = questionnaires.filter(
        (q) => query.url === undefined || questionnaireMatches(q.policy, query.url, query.version),
      );
      res.type('application/fhir+json').send(
        JSON.stringify(
          searchset(
            found.map((q) => q.resource),
            requestBaseUrl(req),
          ),
        ),
      );
    },
    questionnaire: (req, res) => {
      const q = questionnaireById.get(param(req, 'id'));
      if (!q) {
        sendFailure(res, notFound(`No Questionnaire with id "${param(req, 'id').slice(0, 100)}"`));
        return;
      }
      res.type('application/fhir+json').send(JSON.stringify(q));
    },
    policyPage: (req, res) => {
      const page = policyPages.get(param(req, 'id'));
      if (!page) {
        sendFailure(res, notFound(`No policy "${param(req, 'id').slice(0, 100)}"`));
        return;
      }
      res.type('text/html').send(page);
    },
    serviceOnly: (allowed) => (req, res) =>
      sendFailure(res, registry.get(param(req, 'id')) ? methodNotAllowed(allowed) : unknownService(param(req, 'id'))),
  };
}
