/**
 * What an EHR can read from an order-sign answer, per draft order: the decision (from the CRD
 * coverage-information and the cards about the order) and the criteria it names; compared with a scenario's
 * expected outcome.
 */
import { isRecord } from '../cli.js';
import type { ExpectedDecision } from '../scenario-builder.js';
import type { Json } from './client.js';

export const COVERAGE_INFORMATION = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';

export interface ActualDecision {
  readonly outcome: string;
  /** Criterion ids the answer names for the order: to document, or failed. */
  readonly criteria: readonly string[];
  readonly reason?: string;
  /** The Questionnaire canonical a documentation request names. */
  readonly questionnaire?: string;
}

const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const refOf = (r: unknown): string => (isRecord(r) ? `${String(r['resourceType'])}/${String(r['id'])}` : '');

/** The draft orders of a request, as Type/id. */
export function draftOrderRefs(request: Json): string[] {
  const context = isRecord(request['context']) ? request['context'] : {};
  const bundle = isRecord(context['draftOrders']) ? context['draftOrders'] : {};
  return asArray(bundle['entry']).map((e) => (isRecord(e) ? refOf(e['resource']) : ''));
}

/** The coverage-information extensions the answer's update actions put on an order. */
export function assertionsFor(answer: Json, ref: string): Json[] {
  return asArray(answer['systemActions'])
    .filter((a): a is Json => isRecord(a) && a['type'] === 'update' && refOf(a['resource']) === ref)
    .flatMap((a) => asArray((a['resource'] as Json)['extension']))
    .filter((e): e is Json => isRecord(e) && e['url'] === COVERAGE_INFORMATION);
}

/** A coverage-information's sub-extensions as url → value (the first of each). */
export function partsOf(assertion: Json): Map<string, unknown> {
  const parts = new Map<string, unknown>();
  for (const sub of asArray(assertion['extension'])) {
    if (!isRecord(sub) || typeof sub['url'] !== 'string' || parts.has(sub['url'])) continue;
    const valueKey = Object.keys(sub).find((k) => k.startsWith('value'));
    parts.set(sub['url'], valueKey ? sub[valueKey] : undefined);
  }
  return parts;
}

export function cardsAbout(answer: Json, ref: string): Json[] {
  return asArray(answer['cards']).filter((c): c is Json => {
    if (!isRecord(c)) return false;
    const ext = isRecord(c['extension']) ? c['extension'] : {};
    return asArray(ext['davinci-crd.associated-resource']).includes(ref);
  });
}

const topicOf = (card: Json): string => {
  const source = isRecord(card['source']) ? card['source'] : {};
  return isRecord(source['topic']) ? String(source['topic']['code']) : '';
};

function deletes(card: Json, ref: string): boolean {
  return asArray(card['suggestions']).some(
    (s) =>
      isRecord(s) &&
      asArray(s['actions']).some((a) => isRecord(a) && a['type'] === 'delete' && a['resourceId'] === ref),
  );
}

/** The ids a reason names after its colon: "Documentation needed for X: II.A, II.C" → II.A, II.C. */
function criteriaOfReason(reason: string | undefined): string[] {
  const list = reason?.split(': ').slice(1).join(': ');
  if (!list) return [];
  return list
    .split(/,\s*/)
    .map((c) => c.replace(/\s+not met$/, '').trim())
    .filter((c) => /^[A-Za-z0-9.-]+$/.test(c));
}

/**
 * Without coverage-information (no Coverage to assert against: none on record, or the EHR could not supply it)
 * the cards about the order tell: none is out of scope; a coverage warning is no coverage; a suggestion to
 * delete the order is investigative; a guideline warning is not medically necessary; information alone asks
 * for documentation.
 */
function outcomeFromCards(cards: readonly Json[], ref: string): string {
  if (cards.length === 0) return 'out-of-scope';
  if (cards.some((c) => deletes(c, ref))) return 'investigative';
  const warning = (topic: string) => cards.some((c) => c['indicator'] !== 'info' && topicOf(c) === topic);
  if (warning('coverage-info')) return 'no-coverage';
  if (warning('guideline')) return 'not-medically-necessary';
  return 'documentation-needed';
}

/** The coverage-information the draft order already carries (an earlier answer the EHR applied). */
function carriedAssertions(request: Json, ref: string): Json[] {
  const context = isRecord(request['context']) ? request['context'] : {};
  const bundle = isRecord(context['draftOrders']) ? context['draftOrders'] : {};
  return asArray(bundle['entry'])
    .flatMap((e) =>
      isRecord(e) && isRecord(e['resource']) && refOf(e['resource']) === ref ? asArray(e['resource']['extension']) : [],
    )
    .filter((e): e is Json => isRecord(e) && e['url'] === COVERAGE_INFORMATION);
}

/**
 * The decision an EHR reads for one draft order: from the coverage-information of the answer, else from the one the
 * order already carries (CRD sends no update when nothing is new), else from its cards.
 */
export function decisionFor(answer: Json, ref: string, request: Json = {}): ActualDecision {
  const assertion = assertionsFor(answer, ref)[0] ?? carriedAssertions(request, ref)[0];
  const cards = cardsAbout(answer, ref);
  if (!assertion) return { outcome: outcomeFromCards(cards, ref), criteria: [] };
  const parts = partsOf(assertion);
  const reasonValue = parts.get('reason');
  const reason = isRecord(reasonValue) && typeof reasonValue['text'] === 'string' ? reasonValue['text'] : undefined;
  const questionnaire = typeof parts.get('questionnaire') === 'string' ? String(parts.get('questionnaire')) : undefined;
  const base = { ...(reason ? { reason } : {}), ...(questionnaire ? { questionnaire } : {}) };
  switch (parts.get('covered')) {
    case 'covered':
      return { outcome: 'covered', criteria: [], ...base };
    case 'conditional':
      return { outcome: 'documentation-needed', criteria: criteriaOfReason(reason), ...base };
    case 'not-covered':
      if (cards.some((c) => deletes(c, ref))) return { outcome: 'investigative', criteria: [], ...base };
      if (cards.some((c) => topicOf(c) === 'guideline'))
        return { outcome: 'not-medically-necessary', criteria: criteriaOfReason(reason), ...base };
      return { outcome: 'no-coverage', criteria: [], ...base };
    default:
      return {
        outcome: `unknown coverage-information (covered = ${String(parts.get('covered'))})`,
        criteria: [],
        ...base,
      };
  }
}

const sorted = (xs: readonly string[]): string[] => [...xs].sort();

/** Differences between what the scenario expects for each order and what the answer says; empty when they agree. */
export function compare(
  expected: Readonly<Record<string, ExpectedDecision>>,
  actual: ReadonlyMap<string, ActualDecision>,
): string[] {
  const lines: string[] = [];
  for (const [ref, want] of Object.entries(expected)) {
    const got = actual.get(ref);
    const outcomeDiffers = got?.outcome !== want.outcome;
    const docDiffers =
      !outcomeDiffers &&
      want.toDocument !== undefined &&
      sorted(got.criteria).join(',') !== sorted(want.toDocument).join(',');
    if (!outcomeDiffers && !docDiffers) continue;
    lines.push(`${ref}:`);
    lines.push(
      `  expected: ${want.outcome}${want.toDocument ? ` (to document: ${sorted(want.toDocument).join(', ')})` : ''}`,
    );
    lines.push(
      `  actual:   ${got ? got.outcome : 'no decision'}${got && got.criteria.length > 0 ? ` (criteria: ${sorted(got.criteria).join(', ')})` : ''}`,
    );
    if (got?.reason) lines.push(`  reason:   ${got.reason}`);
    const nodes = Object.entries(want.nodes ?? {});
    if (nodes.length > 0)
      lines.push(`  expected criteria states: ${nodes.map(([id, state]) => `${id} ${state}`).join(', ')}`);
  }
  return lines;
}

/** The decisions of every draft order of the request, read from the answer. */
export function decisionsOf(request: Json, answer: Json): Map<string, ActualDecision> {
  return new Map(draftOrderRefs(request).map((ref) => [ref, decisionFor(answer, ref, request)]));
}
