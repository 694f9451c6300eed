import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { TokenService } from '../auth/backend-services.js';
import { smartConfiguration, TOKEN_RESPONSE_HEADERS } from '../auth/backend-services.js';
import { packageFailure, parsePackageInput, type PackageFailure } from './package-input.js';
import { questionnairePackage, type PackageDeps } from './questionnaire-package.js';

/**
 * The DTR endpoints as one router: POST /fhir/Questionnaire/$questionnaire-package (bearer token required),
 * GET /fhir/metadata, POST /auth/token, GET /.well-known/smart-configuration. Questionnaire read and search
 * (`GET /fhir/Questionnaire/{id}`, `?url=`) are the app's own routes. Mount it before any
 * `/fhir/Questionnaire/:id` route (that one would take `$questionnaire-package` for an id). A store that cannot
 * answer is a 503 value from findEvaluation; anything else it throws goes to the app's error handler (next(err)).
 */

export interface FailureWithHeaders {
  readonly status: number;
  readonly outcome: fhir4.OperationOutcome;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface PackageEvent {
  readonly clientId: string;
  readonly status: number;
  /** The stored assertion that pre-filled the package, when one did. */
  readonly assertionId?: string;
}

export interface DtrRouterDeps extends PackageDeps {
  readonly tokens: TokenService;
  readonly tokenEndpoint: string;
  /** The CapabilityStatement (built once by capabilityStatement()). */
  readonly capabilityStatement: fhir4.CapabilityStatement;
  /** The app's own failure sender (OperationOutcome as application/fhir+json with status and headers). */
  readonly sendFailure: (res: Response, failure: FailureWithHeaders) => void;
  /**
   * The token endpoint URLs a client assertion's `aud` may name for this request (development: the URL called
   * and the configured one); default `[tokenEndpoint]`. The first is the one smart-configuration advertises.
   */
  readonly tokenAudiences?: (req: Request) => readonly string[];
  /** For the audit and the log; carries no PHI and no token. */
  readonly onPackage?: (event: PackageEvent, res: Response) => void;
  /** Body limit for the package request (express syntax); default 1mb. */
  readonly bodyLimit?: string;
}

const FHIR_JSON = 'application/fhir+json';

function sendFhir(res: Response, status: number, resource: unknown): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(resource));
}

function parseJsonBody(body: unknown): { ok: true; value: unknown } | { ok: false; failure: PackageFailure } {
  if (!Buffer.isBuffer(body) || body.length === 0)
    return {
      ok: false,
      failure: packageFailure(
        400,
        'structure',
        'The body is empty: send the input Parameters as application/fhir+json',
      ),
    };
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    // The body's text may hold PHI: the message names no part of it.
    return {
      ok: false,
      failure: packageFailure(
        400,
        'structure',
        'The body is not parsable JSON: send the input Parameters as application/fhir+json',
      ),
    };
  }
}

export function dtrRouter(deps: DtrRouterDeps): Router {
  const router = express.Router();
  const jsonBody = express.raw({ type: () => true, limit: deps.bodyLimit ?? '1mb' });
  const formBody = express.urlencoded({ extended: false, limit: '16kb' });
  const audiences = (req: Request): readonly string[] => deps.tokenAudiences?.(req) ?? [deps.tokenEndpoint];
  const methods = (allowed: string) => (_req: Request, res: Response) =>
    deps.sendFailure(res, {
      ...packageFailure(400, 'not-supported', `Method not allowed; use ${allowed}`),
      status: 405,
      headers: { Allow: allowed },
    });

  router.get('/fhir/metadata', (_req, res) => sendFhir(res, 200, deps.capabilityStatement));
  router.all('/fhir/metadata', methods('GET'));

  router.get('/.well-known/smart-configuration', (req, res) => {
    res.set('Cache-Control', 'public, max-age=3600').json(
      smartConfiguration({
        tokenEndpoint: audiences(req)[0] ?? deps.tokenEndpoint,
        scopesSupported: deps.tokens.scopesSupported,
      }),
    );
  });
  router.all('/.well-known/smart-configuration', methods('GET'));

  router.post('/auth/token', formBody, async (req, res) => {
    res.set(TOKEN_RESPONSE_HEADERS);
    if (!req.is('application/x-www-form-urlencoded')) {
      res.status(400).json({
        error: 'invalid_request',
        error_description: 'send the token request as application/x-www-form-urlencoded',
      });
      return;
    }
    const result = await deps.tokens.token((req.body ?? {}) as Record<string, unknown>, audiences(req));
    res.status(result.status).json(result.body);
  });
  router.all('/auth/token', methods('POST'));

  // The token is checked before the body is read: an unauthenticated caller never gets its body parsed.
  const requireAccess = async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const access = await deps.tokens.verifyAccessToken(req.get('authorization'));
    if (!access.ok) {
      const status = access.status === 403 ? 403 : 401;
      deps.sendFailure(res, {
        ...packageFailure(status, status === 403 ? 'forbidden' : 'login', access.reason),
        headers: { 'WWW-Authenticate': access.wwwAuthenticate },
      });
      return;
    }
    res.locals['dtrClientId'] = access.clientId;
    next();
  };
  router.post(
    '/fhir/Questionnaire/\\$questionnaire-package',
    requireAccess,
    jsonBody,
    async (req: Request, res: Response) => {
      const clientId = res.locals['dtrClientId'] as string;
      const body = parseJsonBody(req.body);
      const input = body.ok ? parsePackageInput(body.value) : body;
      const result = input.ok ? await questionnairePackage(input.value, deps) : input;
      if (!result.ok) {
        deps.onPackage?.({ clientId, status: result.failure.status }, res);
        deps.sendFailure(res, result.failure);
        return;
      }
      deps.onPackage?.(
        { clientId, status: 200, ...(result.value.assertionId ? { assertionId: result.value.assertionId } : {}) },
        res,
      );
      res.set('Cache-Control', 'no-store');
      sendFhir(res, 200, result.value.output);
    },
  );
  router.all('/fhir/Questionnaire/\\$questionnaire-package', methods('POST'));

  return router;
}
