import type { RequestHandler, Response } from 'express';
import type { OrderSignMetrics } from '../cds-hooks/order-sign.js';
import type { Logger } from './logger.js';

/** One line per request, written when the exchange ends, including calls the client abandoned. */

export type LogFields = OrderSignMetrics & {
  serviceId?: string;
  feedback?: unknown;
  client?: string;
  authFailure?: string;
};

/** The fields handlers add to this request's log line. */
export function logFields(res: Response): LogFields {
  return (res.locals['log'] ??= {}) as LogFields;
}

export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('close', () => {
      const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10;
      const aborted = !res.writableFinished;
      const entry = {
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms,
        ...(aborted ? { aborted } : {}),
        ...logFields(res),
      };
      if (aborted) logger.warn(entry, 'client closed the request before the answer');
      else if (res.statusCode >= 500) logger.error(entry, 'request failed');
      else logger.info(entry, 'request');
    });
    next();
  };
}
