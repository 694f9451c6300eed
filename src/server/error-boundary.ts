import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { failure, internalError, notFound, tooLarge } from '../fhir/outcome.js';
import type { Logger } from './logger.js';
import { sendFailure } from './send.js';

interface HttpError {
  status?: number;
  statusCode?: number;
  type?: string;
  expose?: boolean;
  message?: string;
}

/** What no route answered. */
export const noRoute: RequestHandler = (req, res) =>
  sendFailure(res, notFound(`No resource at ${req.method} ${req.path.slice(0, 200)}`));

/** Turns what escaped a handler into an OperationOutcome: client mistakes keep their 4xx, the rest is a 500. */
export function errorBoundary(bodyLimit: string, logger: Logger) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    const e = (err ?? {}) as HttpError;
    const status = e.status ?? e.statusCode ?? 500;
    if (e.type === 'entity.too.large') {
      sendFailure(res, tooLarge(bodyLimit));
      return;
    }
    if (status >= 400 && status < 500) {
      sendFailure(res, failure(status, 'invalid', e.expose && e.message ? e.message : 'The request could not be read'));
      return;
    }
    // The message of a driver or parser error can quote request or record values (PHI): only its kind and where.
    const thrown = (err ?? {}) as Partial<Error> & { code?: unknown };
    const frames = thrown.stack
      ?.split('\n')
      .filter((l) => l.trimStart().startsWith('at '))
      .slice(0, 8);
    logger.error({ err: { name: thrown.name, code: thrown.code, stack: frames } }, 'unhandled error');
    if (res.headersSent) return;
    sendFailure(res, internalError());
  };
}
