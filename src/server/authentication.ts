import type { Request, RequestHandler, Response } from 'express';
import type { AuthFailure, Authenticator } from '../auth/client-auth.js';
import type { TrustedClient } from '../auth/trusted-clients.js';
import { failure, type Failure } from '../fhir/outcome.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { logFields } from './request-log.js';
import { sendFailure } from './send.js';

/** The trusted client that signed this request's JWT; undefined when authentication is off. */
export function clientOf(res: Response): TrustedClient | undefined {
  return res.locals['client'] as TrustedClient | undefined;
}

/** The base URL the client called: scheme, Host header (no trust in forwarding headers). */
export function requestBaseUrl(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? 'localhost'}`;
}

/**
 * The audiences a call may carry: the URL under CDS_PUBLIC_BASE_URL; in development without it, the URL the
 * client called first, then the same path under http://localhost:$PORT.
 */
export function expectedAudiences(
  config: Pick<Config, 'publicBaseUrl' | 'audienceFromRequest'>,
  req: Request,
): string[] {
  const path = req.originalUrl.split('?')[0] ?? '';
  const called = `${requestBaseUrl(req)}${path}`;
  const configured = `${config.publicBaseUrl}${path}`;
  return config.audienceFromRequest && called !== configured ? [called, configured] : [configured];
}

const REALM = 'Bearer realm="cds-services"';

/** RFC 6750 §3: a missing token gets a bare challenge; a refused one error="invalid_token" and, when detailed, why. */
export function authRefusal(f: AuthFailure, mode: Config['authErrors']): Failure {
  const detailed = mode === 'detailed';
  if (f.missing)
    return {
      ...failure(401, 'login', detailed ? f.description : 'Authentication required'),
      headers: { 'WWW-Authenticate': REALM },
    };
  const challenge = `${REALM}, error="invalid_token"${detailed ? `, error_description="${f.description}"` : ''}`;
  return {
    ...failure(401, 'login', detailed ? f.description : 'Authentication required'),
    headers: { 'WWW-Authenticate': challenge },
  };
}

/**
 * Every discovery, service and feedback call carries a client JWT whose aud is the URL called. Preflights never
 * reach here (CORS answers them first). The 401 says which check failed (unless CDS_AUTH_ERRORS=minimal); the
 * log says it too, never with the token.
 */
export function clientAuthentication(config: Config, logger: Logger, auth: Authenticator | undefined): RequestHandler {
  return async (req, res, next) => {
    if (!auth) {
      logger.warn(
        { auth: 'off' },
        'CDS_AUTH=off: request accepted without client authentication (local experiments only)',
      );
      next();
      return;
    }
    const result = await auth.verify(req.get('authorization'), expectedAudiences(config, req));
    if (!result.ok) {
      Object.assign(logFields(res), {
        authFailure: result.reason,
        ...(result.iss ? { client: result.iss.slice(0, 200) } : {}),
      });
      if (result.busy)
        sendFailure(res, { ...failure(503, 'exception', 'Busy; retry shortly'), headers: { 'Retry-After': '5' } });
      else sendFailure(res, authRefusal(result, config.authErrors));
      return;
    }
    res.locals['client'] = result.client;
    logFields(res).client = result.client.iss;
    next();
  };
}
