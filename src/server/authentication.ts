import type { RequestHandler, Response } from 'express';
import type { Authenticator } from '../auth/client-auth.js';
import type { TrustedClient } from '../auth/trusted-clients.js';
import { failure } from '../fhir/outcome.js';
import type { Logger } from './logger.js';
import { logFields } from './request-log.js';
import { sendFailure } from './send.js';

/** The trusted client that signed this request's JWT; undefined when authentication is off. */
export function clientOf(res: Response): TrustedClient | undefined {
  return res.locals['client'] as TrustedClient | undefined;
}

/**
 * Every discovery, service and feedback call carries a client JWT whose aud is the URL called. Preflights never
 * reach here (CORS answers them first). The 401 says nothing about why; the log does, without the token.
 */
export function clientAuthentication(publicBaseUrl: string, logger: Logger, auth: Authenticator | undefined): RequestHandler {
  return async (req, res, next) => {
    if (!auth) {
      logger.warn({ auth: 'off' }, 'CDS_AUTH=off: request accepted without client authentication (local experiments only)');
      return next();
    }
    const audience = `${publicBaseUrl}${req.originalUrl.split('?')[0]}`;
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
