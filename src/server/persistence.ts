import type { Request } from 'express';
import type { JtiCheck } from '../auth/client-auth.js';
import type { CallRecord, PersistPort } from '../cds-hooks/persist.js';
import { isObject } from '../fhir/bundle.js';
import { isStoreUnavailable, type AuditInput, type AuditKind } from '../store/index.js';
import type { Logger } from './logger.js';
import type { StoreHolder } from './store-holder.js';

/** The store wired into the pipeline's persist port, the authenticator's jti check and the audit trail. */

/** How long an in-scope call waits for a store whose first open is still under way. */
const OPEN_WAIT_MS = 2000;

/** What an audit record says about the request: identifiers and shape, never the access token or the JWT. */
export function requestMeta(req: Request, body: unknown): Record<string, unknown> {
  const meta: Record<string, unknown> = {
    method: req.method,
    path: req.path,
    userAgent: req.get('user-agent')?.slice(0, 200) ?? null,
  };
  if (!isObject(body)) return meta;
  const context = isObject(body['context']) ? body['context'] : {};
  const draft =
    isObject(context['draftOrders']) && Array.isArray(context['draftOrders']['entry'])
      ? context['draftOrders']['entry']
      : [];
  const pick = (o: Record<string, unknown>, keys: string[]) =>
    Object.fromEntries(keys.filter((k) => typeof o[k] === 'string').map((k) => [k, o[k]]));
  return {
    ...meta,
    ...pick(body, ['hook', 'hookInstance', 'fhirServer']),
    context: pick(context, ['userId', 'patientId', 'encounterId']),
    draftOrders: draft.flatMap((e) =>
      isObject(e) && isObject(e['resource'])
        ? // eslint-disable-next-line @typescript-eslint/no-base-to-string -- the audit keeps the id as the client sent it, whatever its JSON type
          [`${String(e['resource']['resourceType'])}/${String(e['resource']['id'] ?? '')}`]
        : [],
    ),
    prefetchKeys: isObject(body['prefetch']) ? Object.keys(body['prefetch']) : [],
    ...(isObject(body['fhirAuthorization']) ? { fhirAuthorization: 'present (not kept)' } : {}),
  };
}

export interface CallAudit {
  readonly kind: AuditKind;
  readonly clientIss: string | null;
  readonly serviceId: string | null;
  readonly hookInstance: string | null;
  readonly requestMeta: Record<string, unknown>;
  /** performance.now() when the call arrived. */
  readonly startedAt: number;
  readonly consumer?: string;
}

/** The audit of a request that is no hook call (no service, no hookInstance, no body kept). */
export function requestAudit(req: Request, kind: AuditKind, clientIss: string | null, startedAt: number): CallAudit {
  return { kind, clientIss, serviceId: null, hookInstance: null, requestMeta: requestMeta(req, undefined), startedAt };
}

export function auditInput(a: CallAudit, status: number, response: unknown): AuditInput {
  return {
    kind: a.kind,
    clientIss: a.clientIss,
    serviceId: a.serviceId,
    hookInstance: a.hookInstance,
    requestMeta: a.requestMeta,
    response,
    status,
    durationMs: performance.now() - a.startedAt,
    ...(a.consumer !== undefined ? { consumer: a.consumer } : {}),
  };
}

/** Records an audit record after the answer (queued while the store is down); a failure is logged, never thrown. */
export function recordAuditLater(holder: StoreHolder, logger: Logger, entry: AuditInput): void {
  holder
    .recordAudit(entry)
    .catch((error: unknown) =>
      logger.error({ err: { name: (error as Error).name } }, 'audit record could not be written'),
    );
}

/**
 * The persist port of one call: its assertions (bound to the calling client), card links and audit record in one
 * transaction.
 */
export function persistPort(holder: StoreHolder, audit: CallAudit): PersistPort {
  return {
    async priorAssertion(id) {
      const store = await holder.get(OPEN_WAIT_MS);
      if (store === undefined) return { ok: false, reason: 'unavailable' };
      try {
        const found = await store.store.getAssertion(id);
        // Only the client an assertion was issued to keeps it; an authenticated caller does not adopt one issued to
        // another client or to none (stored before the column, or with authentication off): its order gets its own.
        const theirs = found !== undefined && found.clientIss !== audit.clientIss;
        return { ok: true, value: theirs ? undefined : found };
      } catch (error) {
        if (isStoreUnavailable(error)) return { ok: false, reason: 'unavailable' };
        throw error;
      }
    },
    async recordCall(record: CallRecord) {
      const store = await holder.get(OPEN_WAIT_MS);
      if (store === undefined) return { ok: false, reason: 'unavailable' };
      const result = await store.recordCall({
        // Issued to the authenticated client, the same iss as the audit record's (null with authentication off).
        assertions: record.assertions.map((a) => ({ ...a, clientIss: audit.clientIss })),
        cardLinks: [...record.cardLinks],
        audit: auditInput(
          { ...audit, serviceId: record.serviceId, hookInstance: record.hookInstance },
          200,
          record.response,
        ),
      });
      return result.status === 'committed' ? { ok: true } : { ok: false, reason: 'unavailable' };
    },
  };
}

/** The authenticator's replay check through the store (memory while it is down); a store bug answers busy (503). */
export function storeJtiCheck(holder: StoreHolder, logger: Logger): JtiCheck {
  return async (claim) => {
    try {
      return await holder.claimJti(claim);
    } catch (error) {
      logger.error({ err: { name: (error as Error).name } }, 'jti check failed');
      return 'busy';
    }
  };
}
