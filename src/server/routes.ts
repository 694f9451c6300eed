import type { Express, RequestHandler } from 'express';
import { methodNotAllowed } from '../fhir/outcome.js';
import type { Handlers } from './handlers.js';
import { sendFailure } from './send.js';

/** Every path the service answers, on one screen. Any other method on a listed path is a 405 with `Allow`. */

export interface Route {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly handlers: readonly RequestHandler[];
  /** What other methods on the path get, when not the plain 405. */
  readonly otherMethods?: RequestHandler;
}

export interface RouteGuards {
  /** The consumer authentication of /coverage-assertions; without it the route does not exist (404). */
  readonly admin?: RequestHandler | undefined;
  /** The bearer check of /metrics (CDS_METRICS_TOKEN); without it /metrics is open. */
  readonly metrics?: RequestHandler | undefined;
}

export function routeTable(h: Handlers, body: RequestHandler, guards: RouteGuards = {}): readonly Route[] {
  const { admin } = guards;
  return [
    { method: 'GET', path: '/health', handlers: [h.health] },
    { method: 'GET', path: '/ready', handlers: [h.ready] },
    { method: 'GET', path: '/metrics', handlers: guards.metrics ? [guards.metrics, h.metrics] : [h.metrics] },
    { method: 'GET', path: '/cds-services', handlers: [h.discovery] },
    { method: 'POST', path: '/cds-services/:id', handlers: [body, h.hookCall], otherMethods: h.serviceOnly(['POST']) },
    {
      method: 'POST',
      path: '/cds-services/:id/feedback',
      handlers: [body, h.feedback],
      otherMethods: h.serviceOnly(['POST']),
    },
    { method: 'GET', path: '/fhir/Questionnaire', handlers: [h.questionnaireSearch] },
    { method: 'GET', path: '/fhir/Questionnaire/:id', handlers: [h.questionnaire] },
    { method: 'GET', path: '/policies/:id', handlers: [h.policyPage] },
    ...(admin
      ? [{ method: 'GET' as const, path: '/coverage-assertions/:id', handlers: [admin, h.coverageAssertion] }]
      : []),
  ];
}

export function mountRoutes(app: Express, routes: readonly Route[]): void {
  for (const route of routes) {
    if (route.method === 'GET') app.get(route.path, ...route.handlers);
    else app.post(route.path, ...route.handlers);
    app.all(route.path, route.otherMethods ?? ((_req, res) => sendFailure(res, methodNotAllowed([route.method]))));
  }
}
