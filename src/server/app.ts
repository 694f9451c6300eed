import cors from 'cors';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { discoveryDocument } from '../cds-hooks/discovery.js';
import { parseFeedback } from '../cds-hooks/feedback.js';
import { orderSign, type OrderSignMetrics } from '../cds-hooks/order-sign.js';
import type { Registry } from '../cds-hooks/registry.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { badJson, failure, internalError, methodNotAllowed, notFound, tooLarge, type Failure } from './outcome.js';

export interface AppDeps {
  readonly config: Config;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly fetch?: typeof fetch;
}

type LogFields = OrderSignMetrics & { serviceId?: string; feedback?: unknown };

function logFields(res: Response): LogFields {
  return (res.locals['log'] ??= {}) as LogFields;
}

function sendFailure(res: Response, f: Failure): void {
  res.status(f.status);
  if (f.headers) res.set(f.headers);
  res.type('application/fhir+json').send(JSON.stringify(f.outcome));
}

function parseJson(body: unknown): { ok: true; value: unknown } | { ok: false; failure: Failure } {
  if (!Buffer.isBuffer(body) || body.length === 0) return { ok: false, failure: badJson('the body is empty') };
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) as unknown };
  } catch (e) {
    return { ok: false, failure: badJson((e as Error).message) };
  }
}

function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const fields = logFields(res);
      const entry = { method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10, ...fields };
      if (res.statusCode >= 500) logger.error(entry, 'request failed');
      else logger.info(entry, 'request');
    });
    next();
  };
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
  const { config, registry, logger } = deps;
  const fetchFn = deps.fetch ?? globalThis.fetch;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestLog(logger));
  app.use(cors(corsOptions(config)));
  const body = express.raw({ type: () => true, limit: config.bodyLimit });

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.all('/health', onlyMethods(['GET']));

  app.get('/cds-services', (_req, res) => {
    res.json(discoveryDocument(registry, config.prefetchMode));
  });
  app.all('/cds-services', onlyMethods(['GET']));

  app.post('/cds-services/:id', body, async (req, res) => {
    const id = String(req.params['id']);
    const service = registry.get(id);
    if (!service) return sendFailure(res, notFound(`No CDS service with id "${id.slice(0, 100)}"`));
    logFields(res).serviceId = id;
    const json = parseJson(req.body);
    if (!json.ok) return sendFailure(res, json.failure);
    const result = await orderSign(service, json.value, { config, fetch: fetchFn });
    Object.assign(logFields(res), result.metrics);
    if (!result.ok) return sendFailure(res, result.failure);
    res.json(result.response);
  });
  app.all('/cds-services/:id', onlyMethods(['POST']));

  app.post('/cds-services/:id/feedback', body, (req, res) => {
    const id = String(req.params['id']);
    if (!registry.get(id)) return sendFailure(res, notFound(`No CDS service with id "${id.slice(0, 100)}"`));
    logFields(res).serviceId = id;
    const json = parseJson(req.body);
    if (!json.ok) return sendFailure(res, json.failure);
    const feedback = parseFeedback(json.value);
    if (!feedback.ok) return sendFailure(res, feedback.failure);
    logFields(res).feedback = feedback.value;
    res.status(200).end();
  });
  app.all('/cds-services/:id/feedback', onlyMethods(['POST']));

  app.use((req, res) => sendFailure(res, notFound(`No resource at ${req.method} ${req.path.slice(0, 200)}`)));
  app.use(errorHandler(config, logger));
  return app;
}
