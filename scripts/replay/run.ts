/**
 * The replay: every scenario, in each mode, sent to the service the way an EHR would send it, and the answer
 * compared with the scenario's expected outcome and checked against the CRD conformance checks.
 *
 * prefetch: discovery's prefetch templates run against a loopback FHIR server holding the scenario's record;
 *           that server is named as fhirServer too only when the EHR could not prefetch everything (a withheld
 *           key, or discovery advertising less than the scenario's data queries, as with CDS_PREFETCH=minimal).
 * fhir:     no prefetch; the request names that FHIR server (fhirServer + fhirAuthorization) and the service
 *           queries it.
 * Either way, when the answer asks for documentation and the scenario carries completed QuestionnaireResponses,
 * the replay acts as a DTR client: the responses (to the Questionnaire the answer names) are saved to the FHIR
 * server, the answer's coverage-information is applied to the draft orders, and the orders are signed again.
 */
import { randomUUID } from 'node:crypto';
import { conformanceProblems } from '../../test/support/crd-conformance.js';
import { startFhirTestServer, type FhirTestServer } from '../../test/support/fhir-server.js';
import { CliError, isRecord } from '../cli.js';
import {
  callService,
  discover,
  fulfilPrefetch,
  type Answer,
  type DiscoveredService,
  type Json,
  type Signer,
} from './client.js';
import { daysBetween, shiftDates, todayUtc } from './dates.js';
import { compare, decisionsOf, type ActualDecision } from './outcome.js';
import { loadScenario, scenarioData, type ReplayScenario, type Resource, type ScenarioData } from './scenarios.js';
import { startInProcess, type RunningService } from './service.js';

export type Mode = 'prefetch' | 'fhir';
export const MODES: readonly Mode[] = ['prefetch', 'fhir'];

export interface ReplayOptions {
  /** A running deployment; without it the service is started in-process on loopback. */
  readonly url?: string;
  readonly modes: readonly Mode[];
  readonly files: readonly string[];
  readonly signer: Signer;
  /** The service's today (YYYY-MM-DD); default the UTC date now. */
  readonly today?: string;
  /** Environment for the in-process service (over process.env). */
  readonly serviceEnv?: Record<string, string>;
  /** Called as each case ends (progress output). */
  readonly onCase?: (result: CaseResult) => void;
}

export interface CaseResult {
  readonly scenario: ReplayScenario;
  readonly mode: Mode;
  readonly passed: boolean;
  /** The decisions, one per draft order, as `first → after DTR` when the orders were signed twice. */
  readonly summary: string;
  /** Milliseconds the service took to answer (both signings together). */
  readonly ms: number;
  /** The readable differences and conformance problems; empty when passed. */
  readonly problems: readonly string[];
  /** The last answer received. */
  readonly answer?: Answer;
  /** The requests the loopback FHIR server received during this case: the service's carry the bearer token. */
  readonly fhirRequests: readonly FhirRequest[];
}

export interface FhirRequest {
  readonly method: string;
  readonly path: string;
  /** Whether it carried the request's fhirAuthorization bearer token (the service's queries do; the replay's own prefetch queries do not). */
  readonly bearer: boolean;
}

const FAULT_STATUS = 503;

/** The first path segment of a template: the resource type it reads or searches. */
const typeOfTemplate = (template: string): string => template.split(/[/?]/)[0] ?? template;

function serviceFor(discovery: readonly DiscoveredService[], s: ReplayScenario): DiscoveredService {
  const svc = discovery.find((d) => d.id === s.service);
  if (!svc)
    throw new Error(
      `discovery offers no service ${s.service} (it offers ${discovery.map((d) => d.id).join(', ') || 'none'})`,
    );
  return svc;
}

/** The scenario moved so that its evaluation date is `today`. */
function shifted(s: ReplayScenario, today: string): ReplayScenario {
  const days = daysBetween(s.evaluationDate, today);
  return { ...s, request: shiftDates(s.request, days), evaluationDate: today };
}

function fhirAccess(fhir: FhirTestServer, patientId: string): Json {
  return {
    fhirServer: fhir.url,
    fhirAuthorization: {
      access_token: randomUUID(),
      token_type: 'Bearer',
      expires_in: 300,
      scope: 'patient/*.read',
      subject: 'crd-replay',
      patient: patientId,
    },
  };
}

/** A completed response re-pointed at the Questionnaire the service asked for (what a DTR client answers). */
export function answerTo(response: Resource, own: ReplayScenario['questionnaire'], requested: string): Resource {
  if (!own) return response;
  const [requestedUrl] = requested.split('|') as [string];
  const questionnaire = response['questionnaire'];
  const [url] = (typeof questionnaire === 'string' ? questionnaire : '').split('|');
  if (url !== own.url) return response;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      if (v === `${own.url}|${own.version}`)
        return requested.includes('|') ? requested : `${requestedUrl}|${own.version}`;
      if (v === own.url || v.startsWith(`${own.url}/`)) return requestedUrl + v.slice(own.url.length);
      return v;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (isRecord(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(response) as Resource;
}

/** The draft orders with the answer's update actions applied (coverage-information on each order). */
function applyUpdates(context: Json, answer: Json): Json {
  const updates = new Map<string, unknown>();
  for (const a of Array.isArray(answer['systemActions']) ? answer['systemActions'] : []) {
    if (isRecord(a) && a['type'] === 'update' && isRecord(a['resource']))
      updates.set(`${String(a['resource']['resourceType'])}/${String(a['resource']['id'])}`, a['resource']);
  }
  const bundle = isRecord(context['draftOrders']) ? context['draftOrders'] : {};
  const entries = (Array.isArray(bundle['entry']) ? bundle['entry'] : []).map((e: unknown) => {
    if (!isRecord(e) || !isRecord(e['resource'])) return e;
    const ref = `${String(e['resource']['resourceType'])}/${String(e['resource']['id'])}`;
    return updates.has(ref) ? { ...e, resource: updates.get(ref) } : e;
  });
  return { ...context, draftOrders: { ...bundle, entry: entries } };
}

const describeDecisions = (d: ReadonlyMap<string, ActualDecision>): string =>
  [...d.values()].map((x) => x.outcome).join(', ');

/** A JSON scalar as text; '' for null, undefined or anything else. */
function primitiveText(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

function failureOf(answer: Answer): string {
  const issue: unknown = Array.isArray(answer.body['issue']) ? answer.body['issue'][0] : undefined;
  const why = isRecord(issue) ? (issue['diagnostics'] ?? issue['details'] ?? issue['code']) : undefined;
  const text = isRecord(why)
    ? typeof why['text'] === 'string'
      ? why['text']
      : JSON.stringify(why)
    : primitiveText(why);
  return `HTTP ${answer.status}${text ? `: ${text}` : ''}`;
}

interface Context {
  readonly base: string;
  readonly signer: Signer;
  readonly discovery: readonly DiscoveredService[];
  readonly fhir: FhirTestServer;
}

/** One scenario in one mode: sign, maybe complete the questionnaire and sign again, compare and check. */
async function runCase(
  ctx: Context,
  s: ReplayScenario,
  mode: Mode,
): Promise<Omit<CaseResult, 'scenario' | 'mode' | 'fhirRequests'>> {
  const svc = serviceFor(ctx.discovery, s);
  const data: ScenarioData = scenarioData(s);
  const withheld = new Set(Object.keys(svc.prefetch).filter((k) => !data.prefetchKeys.includes(k)));
  // Data queries discovery does not ask to prefetch (CDS_PREFETCH=minimal): the EHR offers its FHIR server for them.
  const unadvertised = data.prefetchKeys.filter((k) => svc.prefetch[k] === undefined);
  const offerFhirServer = withheld.size > 0 || unadvertised.length > 0;
  await ctx.fhir.clear();
  ctx.fhir.reset();
  await ctx.fhir.seed([...data.resources]);
  const unavailable = [...withheld].map((k) => new RegExp(`^${typeOfTemplate(svc.prefetch[k]!)}(?:[/?]|$)`));
  ctx.fhir.setFaults(unavailable.map((match) => ({ match, status: FAULT_STATUS })));
  const extension = isRecord(s.request['extension']) ? { extension: s.request['extension'] } : {};

  const build = async (context: Json): Promise<Json> => {
    const common = { hook: svc.hook, hookInstance: randomUUID(), context, ...extension };
    if (mode === 'fhir') return { ...common, ...fhirAccess(ctx.fhir, data.patientId) };
    const prefetch = await fulfilPrefetch(ctx.fhir.url, svc.prefetch, context, withheld);
    return { ...common, ...(offerFhirServer ? fhirAccess(ctx.fhir, data.patientId) : {}), prefetch };
  };

  const problems: string[] = [];
  const sign = async (context: Json): Promise<{ answer: Answer; decisions: Map<string, ActualDecision> }> => {
    const request = await build(context);
    const answer = await callService(ctx.base, svc.id, request, ctx.signer);
    if (answer.status !== 200) {
      problems.push(failureOf(answer));
      return { answer, decisions: new Map() };
    }
    problems.push(...conformanceProblems(request, answer.status, answer.body).map((p) => `conformance: ${p}`));
    return { answer, decisions: decisionsOf(request, answer.body) };
  };

  const context = isRecord(s.request['context']) ? s.request['context'] : {};
  const first = await sign(context);
  let last = first;
  let summary = describeDecisions(first.decisions);
  const requested = [...first.decisions.values()].find((d) => d.questionnaire)?.questionnaire;
  // The scenario's responses are on the member's record whatever the first answer asked: when it asked for the
  // questionnaire they are the DTR client's answers to it; otherwise they were there before and the EHR has them too.
  if (first.answer.status === 200 && data.responses.length > 0) {
    await ctx.fhir.seed(data.responses.map((r) => (requested ? answerTo(r, s.questionnaire, requested) : r)));
    last = await sign(applyUpdates(context, first.answer.body));
    summary = `${summary} → ${describeDecisions(last.decisions)} (${requested ? 'questionnaire completed' : 'responses on record'})`;
  }
  if (last.answer.status === 200) problems.unshift(...compare(s.expected, last.decisions));
  const ms = first.answer.ms + (last === first ? 0 : last.answer.ms);
  return {
    passed: problems.length === 0,
    summary: last.answer.status === 200 ? summary : `HTTP ${last.answer.status}`,
    ms,
    problems,
    answer: last.answer,
  };
}

async function serviceUnder(opts: ReplayOptions): Promise<RunningService> {
  if (opts.url) return { url: opts.url.replace(/\/+$/, ''), close: async () => {} };
  return startInProcess(opts.serviceEnv);
}

/** Replays every scenario file in every mode; one result per scenario and mode, in order. */
export async function replay(opts: ReplayOptions): Promise<CaseResult[]> {
  const scenarios = opts.files.map(loadScenario);
  const today = opts.today ?? todayUtc();
  const service = await serviceUnder(opts);
  let fhir: FhirTestServer | undefined;
  const results: CaseResult[] = [];
  try {
    const discovery = await discover(service.url, opts.signer);
    fhir = await startFhirTestServer();
    const ctx: Context = { base: service.url, signer: opts.signer, discovery, fhir };
    for (const original of scenarios) {
      const s = shifted(original, today);
      for (const mode of opts.modes) {
        let outcome: Omit<CaseResult, 'scenario' | 'mode' | 'fhirRequests'>;
        try {
          outcome = await runCase(ctx, s, mode);
        } catch (e) {
          if (e instanceof CliError) throw e;
          outcome = { passed: false, summary: 'error', ms: 0, problems: [(e as Error).message] };
        }
        const result: CaseResult = {
          scenario: original,
          mode,
          ...outcome,
          fhirRequests: ctx.fhir.requests.map((r) => ({
            method: r.method,
            path: r.path,
            bearer: /^Bearer \S+$/.test(r.authorization ?? ''),
          })),
        };
        results.push(result);
        opts.onCase?.(result);
      }
    }
  } finally {
    await fhir?.close();
    await service.close();
  }
  return results;
}
