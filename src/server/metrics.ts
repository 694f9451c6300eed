import type { RequestHandler } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics (GET /metrics), one registry per app. Counts and timings only: no identifier, no PHI. The
 * CRD response-time target (90 % of order-sign calls answered within 5 s) is the `le="5"` bucket of
 * crd_order_sign_duration_seconds over its count, and the crd_order_sign_under_5s_ratio gauge since start.
 */

export interface StoreGauges {
  readonly available: boolean;
  readonly queuedAudit: number;
  readonly droppedAudit: number;
}

export interface Metrics {
  readonly registry: Registry;
  readonly http: RequestHandler;
  /** One answered order-sign call: its status, the decisions of its orders in scope, its duration. */
  orderSign(service: string, status: number, decisions: readonly string[], seconds: number): void;
  /** A FHIR fetch instrumented with query latency and failures. */
  instrumentFetch(fetch: typeof globalThis.fetch): typeof globalThis.fetch;
}

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];

/** One label value for the decisions of one call: none (nothing in scope), the decision, or mixed. */
function decisionLabel(decisions: readonly string[]): string {
  const unique = [...new Set(decisions)];
  return unique.length === 0 ? 'none' : unique.length === 1 ? unique[0]! : 'mixed';
}

export function createMetrics(store: () => StoreGauges, options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics === true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const httpDuration = new Histogram({
    name: 'crd_http_request_duration_seconds',
    help: 'HTTP request latency by route, method and status',
    labelNames: ['route', 'method', 'status'],
    buckets: DURATION_BUCKETS,
    registers,
  });
  const requests = new Counter({
    name: 'crd_order_sign_requests_total',
    help: 'order-sign calls by service, HTTP status and decision (none: no order in scope; mixed: orders decided differently)',
    labelNames: ['service', 'status', 'decision'],
    registers,
  });
  const decisions = new Counter({
    name: 'crd_order_decisions_total',
    help: 'Decisions per order in scope',
    labelNames: ['service', 'decision'],
    registers,
  });
  const signDuration = new Histogram({
    name: 'crd_order_sign_duration_seconds',
    help: 'order-sign latency; CRD asks 90 % within 5 s (the le="5" bucket)',
    labelNames: ['service'],
    buckets: DURATION_BUCKETS,
    registers,
  });
  let answered = 0;
  let underFive = 0;
  new Gauge({
    name: 'crd_order_sign_under_5s_ratio',
    help: 'Share of order-sign calls answered within 5 s since start (CRD target: at least 0.9)',
    registers,
    collect() {
      this.set(answered === 0 ? 1 : underFive / answered);
    },
  });
  const fhirDuration = new Histogram({
    name: 'crd_fhir_query_duration_seconds',
    help: 'Latency of each FHIR request to a client FHIR server',
    labelNames: ['outcome'],
    buckets: DURATION_BUCKETS,
    registers,
  });
  const fhirFailures = new Counter({
    name: 'crd_fhir_query_failures_total',
    help: 'FHIR requests that failed: http (non-2xx), network, aborted (deadline or client gone)',
    labelNames: ['kind'],
    registers,
  });
  new Gauge({
    name: 'crd_store_available',
    help: '1 when the store is open and answering, 0 otherwise',
    registers,
    collect() {
      this.set(store().available ? 1 : 0);
    },
  });
  new Gauge({
    name: 'crd_audit_queue_size',
    help: 'Audit records held in memory until the store returns',
    registers,
    collect() {
      this.set(store().queuedAudit);
    },
  });
  let droppedSeen = 0;
  new Counter({
    name: 'crd_audit_records_dropped_total',
    help: 'Audit records dropped because the queue was full while the store was down',
    registers,
    collect() {
      const dropped = store().droppedAudit;
      if (dropped > droppedSeen) this.inc(dropped - droppedSeen);
      droppedSeen = Math.max(droppedSeen, dropped);
    },
  });

  return {
    registry,
    http: (req, res, next) => {
      const end = httpDuration.startTimer();
      res.on('finish', () => {
        const route = (req.route as { path?: string } | undefined)?.path;
        end({
          route: route ? `${req.baseUrl}${route}` : 'unmatched',
          method: req.method,
          status: String(res.statusCode),
        });
      });
      next();
    },
    orderSign(service, status, orderDecisions, seconds) {
      requests.inc({ service, status: String(status), decision: decisionLabel(orderDecisions) });
      for (const d of orderDecisions) decisions.inc({ service, decision: d });
      signDuration.observe({ service }, seconds);
      answered += 1;
      if (seconds <= 5) underFive += 1;
    },
    instrumentFetch(fetch) {
      return async (input, init) => {
        const end = fhirDuration.startTimer();
        try {
          const res = await fetch(input, init);
          end({ outcome: res.ok ? 'ok' : 'http' });
          if (!res.ok) fhirFailures.inc({ kind: 'http' });
          return res;
        } catch (error) {
          const kind =
            (error as Error).name === 'AbortError' || (error as Error).name === 'TimeoutError' ? 'aborted' : 'network';
          end({ outcome: kind });
          fhirFailures.inc({ kind });
          throw error;
        }
      };
    },
  };
}
