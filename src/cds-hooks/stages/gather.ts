import { failure, type Failure } from '../../fhir/outcome.js';
import { failureLabel, fhirAccess, type FhirAccess } from '../fhir-client.js';
import { gather, isIncomplete, missingWithoutServer, type PlannedQuery, type QueryOutcome } from '../gather.js';
import { expandTemplate, type TokenContext } from '../prefetch.js';
import type { HookService } from '../registry.js';
import type { DataQuery } from '../service-definition.js';
import type { PipelineSettings } from '../settings.js';
import type { StageResult } from './result.js';
import type { ValidCall } from './validate.js';

/** Stage 3: every data query answered, from prefetch or the client's FHIR server, under one deadline. */

export interface GatherDeps {
  readonly settings: PipelineSettings;
  readonly fetch: typeof fetch;
  /** Aborted when the client gives up on the call. */
  readonly signal?: AbortSignal | undefined;
  /** Whether the request's fhirServer may receive the access token (the allowlist, for the calling client). */
  readonly fhirServerAllowed?: ((fhirServer: string) => boolean) | undefined;
}

export interface GatheredData {
  readonly outcomes: readonly QueryOutcome[];
  /** The outcomes whose data is partial or unavailable. */
  readonly incomplete: readonly QueryOutcome[];
  readonly fhirRequests: number;
}

/** The gathered data, or the 412 when data is missing and no FHIR server may be asked; either way, why a named server was refused. */
export type GatherResult = StageResult<GatheredData> & { fhirServerRefused?: string };

function tokenContext({ request }: ValidCall): TokenContext {
  const ctx = request.context;
  return { userId: ctx.userId, patientId: ctx.patientId, encounterId: ctx.encounterId };
}

type Refusal = 'plain-http' | 'allowlist';
const REFUSAL_LABEL: Record<Refusal, string> = {
  'plain-http': 'plain http in production',
  allowlist: 'not on the FHIR server allowlist',
};

/** The FHIR server the service may call for this request, or why it may not. */
function serverAccess({ request }: ValidCall, deps: GatherDeps): { access?: FhirAccess; refused?: Refusal } {
  if (!request.fhirServer) return {};
  if (deps.settings.production && new URL(request.fhirServer).protocol !== 'https:') return { refused: 'plain-http' };
  if (deps.fhirServerAllowed && !deps.fhirServerAllowed(request.fhirServer)) return { refused: 'allowlist' };
  return { access: fhirAccess(request.fhirServer, request.fhirAuthorization?.access_token) };
}

/** The prefetch keys, short: at most eight named, then how many more. */
function keyList(missing: readonly DataQuery[]): string {
  const keys = missing.map((q) => q.key.slice(0, 40));
  return keys.length > 8 ? `${keys.slice(0, 8).join(', ')} and ${keys.length - 8} more` : keys.join(', ');
}

/**
 * The 412: which data is missing and what the client can do about it, in a few sentences (no query templates):
 * allow the refused fhirServer, or prefetch the keys, or send a fhirServer.
 */
export function preconditionMessage(
  missing: readonly DataQuery[],
  fhirServer: string | undefined,
  refused: Refusal | undefined,
): string {
  const keys = keyList(missing);
  const server = fhirServer
    ? `fhirServer ${fhirServer.length > 100 ? `${fhirServer.slice(0, 97)}...` : fhirServer}`
    : '';
  if (refused === 'allowlist') {
    return `${server} is not on this service's FHIR server allowlist, so data not prefetched cannot be fetched: ${keys}. Allow it with CDS_FHIR_ALLOWLIST or the client's fhirServers in the trusted clients file, or prefetch these keys.`;
  }
  if (refused === 'plain-http') {
    return `${server} is plain http, which the service never calls in production, so data not prefetched cannot be fetched: ${keys}. Use an https fhirServer or prefetch these keys.`;
  }
  return `Data needed for the orders in scope was not prefetched and no fhirServer was sent: ${keys}. Prefetch these keys (discovery lists them all with CDS_PREFETCH=full) or send fhirServer.`;
}

function preconditionFailed(
  missing: readonly DataQuery[],
  { request }: ValidCall,
  refused: Refusal | undefined,
): Failure {
  return failure(
    412,
    'incomplete',
    preconditionMessage(missing, request.fhirServer ?? undefined, refused),
    missing.map((q) => `prefetch.${q.key}`),
  );
}

/** Log labels of the incomplete queries: `labResults:timeout`, `procedures:page-limit`. */
export function unavailableLabels(data: GatheredData): string[] {
  return data.incomplete.map((o) => `${o.query.key}:${o.failure ? failureLabel(o.failure) : o.status}`);
}

export async function gatherData(service: HookService, call: ValidCall, deps: GatherDeps): Promise<GatherResult> {
  const ctx = tokenContext(call);
  const planned: PlannedQuery[] = service.queries.map((query) => ({ query, url: expandTemplate(query.template, ctx) }));
  const { access, refused } = serverAccess(call, deps);
  const why = refused ? { fhirServerRefused: REFUSAL_LABEL[refused] } : {};
  if (!access) {
    const missing = missingWithoutServer(planned, call.prefetch);
    if (missing.length > 0) return { ok: false, failure: preconditionFailed(missing, call, refused), ...why };
  }
  const { settings } = deps;
  const gathered = await gather({
    planned,
    prefetch: call.prefetch,
    access,
    timeoutMs: settings.fhirTimeoutMs,
    maxPages: settings.fhirMaxPages,
    maxBytes: settings.limits.fhirResponseBytes,
    budget: { resources: settings.limits.resources, bytes: settings.limits.fhirTotalBytes },
    fetch: deps.fetch,
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  const value = { ...gathered, incomplete: gathered.outcomes.filter(isIncomplete) };
  return { ok: true, value, ...why };
}
