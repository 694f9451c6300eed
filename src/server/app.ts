import express, { type Request } from 'express';
import type { TokenService } from '../auth/backend-services.js';
import type { Authenticator } from '../auth/client-auth.js';
import type { Registry } from '../cds-hooks/registry.js';
import { clientAuthentication } from './authentication.js';
import { rawBody } from './body.js';
import type { Config } from './config.js';
import { dtrRoutes, noBackendServices, tokenEndpoint } from './dtr.js';
import { errorBoundary, noRoute } from './error-boundary.js';
import { handlers } from './handlers.js';
import { corsHeaders, securityHeaders } from './headers.js';
import type { Logger } from './logger.js';
import { adminAuthentication, sha256, type AdminConsumer } from './admin.js';
import { auditInput, recordAuditLater, requestAudit } from './persistence.js';
import type { Metrics } from './metrics.js';
import { requestLog } from './request-log.js';
import { mountRoutes, routeTable } from './routes.js';
import type { StoreHolder } from './store-holder.js';

export interface AppDeps {
  readonly config: Config;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Client authentication; absent when CDS_AUTH=off (local experiments only). */
  readonly authenticator?: Authenticator;
  readonly fetch?: typeof fetch;
  /** The clock (tests pin it); the evaluation date is its day in the plan's time zone. */
  readonly now?: () => Date;
  /** The store (opened by the caller, in the background); the app never closes it. */
  readonly store: StoreHolder;
  readonly metrics: Metrics;
  /** Consumers of GET /coverage-assertions/{id}; none turns the endpoint off. */
  readonly adminConsumers?: readonly AdminConsumer[];
  /** SMART Backend Services tokens for DTR (server/dtr.ts backendServices); absent: the package refuses every call. */
  readonly tokens?: TokenService;
}

/** CDS_METRICS_TOKEN: the one bearer token a scraper presents; none leaves /metrics open (for in-cluster scrapes). */
function metricsGuard(token: string | undefined): express.RequestHandler | undefined {
  return token === undefined
    ? undefined
    : adminAuthentication([{ name: 'metrics', tokenHash: sha256(token) }], undefined, 'metrics');
}

/**
 * The HTTP service: log, headers, CORS, client authentication, the DTR router (before the route table, whose
 * `/fhir/Questionnaire/:id` would take `$questionnaire-package` for an id), the routes, then 404 and the error
 * boundary.
 */
export function createApp(deps: AppDeps): express.Express {
  const { config, registry, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestLog(logger));
  app.use(deps.metrics.http);
  app.use(securityHeaders);
  app.use(corsHeaders(config.corsOrigins));
  app.use('/cds-services', clientAuthentication(config, logger, deps.authenticator));
  const { store, metrics } = deps;
  const h = handlers({
    config,
    registry,
    fetch: deps.fetch ?? globalThis.fetch,
    now: deps.now,
    store,
    metrics,
    logger,
  });
  const tokens = deps.tokens ?? noBackendServices(tokenEndpoint(config));
  app.use(dtrRoutes({ config, registry, store, tokens, logger, now: deps.now ?? (() => new Date()) }));
  const consumers = deps.adminConsumers ?? [];
  // A refused login on the payer's assertion lookup is a security event: it goes to the audit trail too.
  const auditRefusedLogin = (req: Request) =>
    recordAuditLater(
      store,
      logger,
      auditInput(requestAudit(req, 'admin-login-refused', null, performance.now()), 401, null),
    );
  mountRoutes(
    app,
    routeTable(h, rawBody(config.bodyLimit), {
      admin: consumers.length > 0 ? adminAuthentication(consumers, auditRefusedLogin) : undefined,
      metrics: metricsGuard(config.operations.metricsToken),
    }),
  );
  app.use(noRoute);
  app.use(errorBoundary(config.bodyLimit, logger));
  return app;
}
