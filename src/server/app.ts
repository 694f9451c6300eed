import cors from 'cors';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { discoveryDocument } from '../cds-hooks/discovery.js';
import { parseFeedback } from '../cds-hooks/feedback.js';
import { orderSign, type OrderSignMetrics } from '../cds-hooks/order-sign.js';
import type { HookService, Registry } from '../cds-hooks/registry.js';
import { policyPage } from '../crd/policy-page.js';
import { buildQuestionnaire } from '../rules/questionnaire.js';
import type { Config } from './config.js';
import { pipelineSettings } from './pipeline-settings.js';
import type { Authenticator } from '../auth/client-auth.js';
import { fhirServerAllowed } from '../auth/fhir-allowlist.js';
import type { TrustedClient } from '../auth/trusted-clients.js';
import type { Logger } from './logger.js';
import { badJson, failure, internalError, methodNotAllowed, notFound, tooLarge, type Failure } from '../fhir/outcome.js';

export interface AppDeps {
  readonly config: Config;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Client authentication; absent when CDS_AUTH=off (local experiments only). */
  readonly authenticator?: Authenticator;
  readonly fetch?: typeof fetch;
  /** The clock (tests pin it); the evaluation date is its UTC day. */
  readonly now?: () => Date;
}

type LogFields = OrderSignMetrics & { serviceId?: string; feedback?: unknown; client?: string; authFailure?: string };

function logFields(res: Response): LogFields {
  return (res.locals['log'] ??= {}) as LogFields;
}

function sendFailure(res: Response, f: Failure): void {
  res.status(f.status);
  if (f.headers) res.set(f.headers);
  res.type('application/fhir+json').send(JSON.stringify(f.outcome));
}

/** The nesting depth of a parsed JSON value, counted without recursion (the value may be arbitrarily deep). */
function depthExceeds(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d > max) return true;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return false;
}

/** Parses the body as JSON; the error names where parsing stopped, never the body's text (it may hold PHI). */
function parseJson(body: unknown, maxDepth: number): { ok: true; value: unknown } | { ok: false; failure: Failure } {
  if (!Buffer.isBuffer(body) || body.length === 0) return { ok: false, failure: badJson('the body is empty') };
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8')) as unknown;
  } catch (e) {
    const position = /position (\d+)/.exec((e as Error).message)?.[1];
    return { ok: false, failure: badJson(position ? `syntax error at character ${position}` : 'syntax error') };
  }
  if (depthExceeds(value, maxDepth)) return { ok: false, failure: failure(422, 'too-long', `JSON nested deeper than ${maxDepth} levels`) };
  return { ok: true, value };
}

const SECURITY_HEADERS: RequestHandler = (_req, res, next) => {
  res.set({ 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store' });
  next();
};

/** One line per request, written when the exchange ends, including calls the client abandoned. */
function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('close', () => {
      const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10;
      const aborted = !res.writableFinished;
      const entry = { method: req.method, path: req.path, status: res.statusCode, ms, ...(aborted ? { aborted } : {}), ...logFields(res) };
      if (aborted) logger.warn(entry, 'client closed the request before the answer');
      else if (res.statusCode >= 500) logger.error(entry, 'request failed');
      else logger.info(entry, 'request');
    });
    next();
  };
}

/** A signal that fires when the client closes the connection before the answer is sent. */
function clientGone(res: Response): AbortSignal {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

function corsOptions(config: Config): cors.CorsOptions {
  const origins = config.corsOrigins;
  return {
    origin: origins === '*' ? true : (origin, cb) => cb(null, origin !== undefined && origins.includes(origin)),
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Accept'],
    maxAge: 600,
  };
}

const onlyMethods =
  (allowed: readonly string[]): RequestHandler =>
  (_req, res) =>
    sendFailure(res, methodNotAllowed(allowed));

/**
 * Every discovery, service and feedback call carries a client JWT whose aud is the URL called. Preflights never
 * reach here (CORS answers them first). The 401 says nothing about why; the log does, without the token.
 */
function clientAuthentication(config: Config, logger: Logger, auth: Authenticator | undefined): RequestHandler {
  return async (req, res, next) => {
    if (!auth) {
      logger.warn({ auth: 'off' }, 'CDS_AUTH=off: request accepted without client authentication (local experiments only)');
      return next();
    }
    const audience = `${config.publicBaseUrl}${req.originalUrl.split('?')[0]}`;
    const result = await auth.verify(req.get('authorization'), audience);
    if (!result.ok) {
      Object.assign(logFields(res), { authFailure: result.reason, ...(result.iss ? { client: result.iss.slice(0, 200) } : {}) });
      if (result.busy) return sendFailure(res, { ...failure(503, 'exception', 'Busy; retry shortly'), headers: { 'Retry-After': '5' } });
      return sendFailure(res, {
        ...failure(401, 'login', 'Authentication required'),
        headers: { 'WWW-Authenticate': 'Bearer realm="cds-services"' },
      });
    }
    res.locals['client'] = result.client;
    logFields(res).client = result.client.iss;
    next();
  };
}

interface HttpError {
  status?: number;
  statusCode?: number;
  type?: string;
  expose?: boolean;
  message?: string;
}

/** Turns what escaped a handler into an OperationOutcome: client mistakes keep their 4xx, the rest is a 500. */
function errorHandler(config: Config, logger: Logger) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    const e = (err ?? {}) as HttpError;
    const status = e.status ?? e.statusCode ?? 500;
    if (e.type === 'entity.too.large') return sendFailure(res, tooLarge(config.bodyLimit));
    if (status >= 400 && status < 500) {
      return sendFailure(res, failure(status, 'invalid', e.expose && e.message ? e.message : 'The request could not be read'));
    }
    logger.error({ err: { name: (err as Error)?.name, message: (err as Error)?.message, stack: (err as Error)?.stack } }, 'unhandled error');
    if (res.headersSent) return;
    sendFailure(res, internalError());
  };
}

export function createApp(deps: AppDeps): express.Express {
  const { config, registry, logger, now } = deps;
  const fetchFn = deps.fetch ?? globalThis.fetch;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestLog(logger));
  app.use(SECURITY_HEADERS);
  app.use(cors(corsOptions(config)));
  const clientOf = (res: Response): TrustedClient | undefined => res.locals['client'] as TrustedClient | undefined;
  app.use('/cds-services', clientAuthentication(config, logger, deps.authenticator));
  const body = express.raw({ type: () => true, limit: config.bodyLimit });
  const unknownService = (id: string) => notFound(`No CDS service with id "${id.slice(0, 100)}"`);
  const knownServiceOnly =
    (allowed: readonly string[]): RequestHandler =>
    (req, res) =>
      sendFailure(res, registry.get(String(req.params['id'])) ? methodNotAllowed(allowed) : unknownService(String(req.params['id'])));

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.all('/health', onlyMethods(['GET']));

  app.get('/cds-services', (_req, res) => {
    res.json(discoveryDocument(registry, config.prefetchMode));
  });
  app.all('/cds-services', onlyMethods(['GET']));

  /** The service named in the path and the parsed JSON body, or the failure already sent. */
  function serviceCall(req: Request, res: Response): { service: HookService; json: unknown } | undefined {
    const id = String(req.params['id']);
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

  app.post('/cds-services/:id', body, async (req, res) => {
    const call = serviceCall(req, res);
    if (!call) return;
    const clientServers = clientOf(res)?.fhirServers ?? [];
    const pipeline = {
      settings: pipelineSettings(config),
      fetch: fetchFn,
      signal: clientGone(res),
      fhirServerAllowed: (url: string) => fhirServerAllowed(url, config.fhirAllowlist, clientServers, config.production),
      ...(now ? { now } : {}),
    };
    const result = await orderSign(call.service, call.json, pipeline, logFields(res));
    if (!result.ok) return sendFailure(res, result.failure);
    res.json(result.response);
  });
  app.all('/cds-services/:id', knownServiceOnly(['POST']));

  app.post('/cds-services/:id/feedback', body, (req, res) => {
    const call = serviceCall(req, res);
    if (!call) return;
    const feedback = parseFeedback(call.json);
    if (!feedback.ok) return sendFailure(res, feedback.failure);
    logFields(res).feedback = feedback.value;
    res.status(200).end();
  });
  app.all('/cds-services/:id/feedback', knownServiceOnly(['POST']));

  const questionnaires = new Map(
    registry.services.map((s) => [s.policy.questionnaire.id, buildQuestionnaire(s.policy, { baseUrl: config.publicBaseUrl })]),
  );
  app.get('/fhir/Questionnaire/:id', (req, res) => {
    const q = questionnaires.get(String(req.params['id']));
    if (!q) return sendFailure(res, notFound(`No Questionnaire with id "${String(req.params['id']).slice(0, 100)}"`));
    res.type('application/fhir+json').send(JSON.stringify(q));
  });
  app.all('/fhir/Questionnaire/:id', onlyMethods(['GET']));

  const policyPages = new Map(registry.services.map((s) => [s.policy.id, policyPage(s.policy, s.definition.source.label)]));
  app.get('/policies/:id', (req, res) => {
    const page = policyPages.get(String(req.params['id']));
    if (!page) return sendFailure(res, notFound(`No policy "${String(req.params['id']).slice(0, 100)}"`));
    res.type('text/html').send(page);
  });
  app.all('/policies/:id', onlyMethods(['GET']));

  app.use((req, res) => sendFailure(res, notFound(`No resource at ${req.method} ${req.path.slice(0, 200)}`)));
  app.use(errorHandler(config, logger));
  return app;
}
