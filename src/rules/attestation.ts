import { isObject, type Rec } from '../fhir/bundle.js';
import { readCoding, type Coding } from '../fhir/coding.js';
import { answerOrigin, type ClassifiedAnswer } from './information-origin.js';

/**
 * Clinician attestation from QuestionnaireResponses to the service's own Questionnaire. Items are read by
 * linkId wherever they sit. Responses linked to an order (basedOn, or the DTR qr-context extension) apply to
 * that order only and come first; then the patient's unlinked responses that fit the order (ruling R4: same
 * section, same body site when the order names one, recent enough); newest first within each.
 */

export const QR_CONTEXT = 'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/qr-context';
export const ATTESTATION_LINK_ID = 'attestation';
/** The indication answered (a coding whose code is a section id). */
export const INDICATION_LINK_ID = 'indication';
/** The body site (and laterality) of the lesion the response was given for, as Codings. */
export const BODY_SITE_LINK_ID = 'body-site';

export interface Answer {
  readonly value: boolean | Coding;
  readonly reference: string;
  readonly authored?: string;
  /** Whether the response is linked to the order (basedOn, DTR qr-context). */
  readonly linked: boolean;
  /**
   * DTR information origin of the answer: `auto` was pre-filled from the record (it never contradicts the
   * record); `override`, `manual` or `unmarked` is the clinician's.
   */
  readonly origin: ClassifiedAnswer['origin'];
}

interface Given {
  readonly value: Answer['value'];
  readonly origin: Answer['origin'];
}

export interface Attestations {
  answer(linkId: string): Answer | undefined;
}

function canonicalWithoutVersion(url: unknown): string | undefined {
  return typeof url === 'string' ? url.split('|')[0] : undefined;
}

function references(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((r) => (isObject(r) && typeof r['reference'] === 'string' ? [r['reference']] : []));
}

function linkedOrders(qr: Rec): string[] {
  const contexts = Array.isArray(qr['extension'])
    ? qr['extension'].filter((e) => isObject(e) && e['url'] === QR_CONTEXT).map((e) => (e as Rec)['valueReference'])
    : [];
  return [...references(qr['basedOn']), ...references(contexts)];
}

function collectAnswers(items: unknown, into: Map<string, Given>): void {
  if (!Array.isArray(items)) return;
  for (const item of items.filter(isObject)) {
    const answers = Array.isArray(item['answer']) ? item['answer'].filter(isObject) : [];
    const first = answers[0];
    if (typeof item['linkId'] === 'string' && first && !into.has(item['linkId'])) {
      const { origin } = answerOrigin(first);
      if (typeof first['valueBoolean'] === 'boolean')
        into.set(item['linkId'], { value: first['valueBoolean'], origin });
      else {
        const coding = readCoding(first['valueCoding']);
        if (coding) into.set(item['linkId'], { value: coding, origin });
      }
    }
    collectAnswers(item['item'], into);
    for (const a of answers) collectAnswers(a['item'], into);
  }
}

export interface AttestationQuery {
  readonly responses: readonly fhir4.Resource[];
  readonly questionnaireUrl: string;
  readonly patientId: string;
  readonly orderReference: string | undefined;
  /** Responses not linked to the order count only when authored within this many days of the evaluation. */
  readonly maxAgeDays?: number;
  readonly evaluationDate?: string;
  /** Where unlinked responses may apply; without it they apply to every order (within maxAgeDays). */
  readonly order?: OrderScope;
}

/**
 * What an unlinked response must share with the order to apply to it: one of its candidate sections (the
 * indication the response answered, else the sections of the criteria it answered) and, when the order names a
 * body site, that site.
 */
export interface OrderScope {
  readonly candidateSections: readonly string[];
  /** The section a criterion id belongs to; undefined for general rules and definitions. */
  readonly sectionOf: (linkId: string) => string | undefined;
  /** The order's body site codings; empty when it names none. */
  readonly bodySites: readonly Coding[];
}

function answeredSections(own: ReadonlyMap<string, Given>, scope: OrderScope): Set<string> {
  const indication = own.get(INDICATION_LINK_ID)?.value;
  if (indication !== undefined && typeof indication !== 'boolean')
    return new Set(indication.code ? [indication.code] : []);
  return new Set([...own.keys()].flatMap((id) => scope.sectionOf(id) ?? []));
}

function siteCodings(items: unknown): Coding[] {
  const found: Coding[] = [];
  const visit = (list: unknown): void => {
    if (!Array.isArray(list)) return;
    for (const item of list.filter(isObject)) {
      const answers = Array.isArray(item['answer']) ? item['answer'].filter(isObject) : [];
      if (item['linkId'] === BODY_SITE_LINK_ID)
        for (const a of answers) {
          const c = readCoding(a['valueCoding']);
          if (c) found.push(c);
        }
      visit(item['item']);
      for (const a of answers) visit(a['item']);
    }
  };
  visit(items);
  return found;
}

const sameCoding = (a: Coding, b: Coding) => a.code !== undefined && a.code === b.code && a.system === b.system;

/** Ruling R4: an unlinked response applies only to an order of the same section and, when it names one, the same site. */
function appliesUnlinked(qr: Rec, own: ReadonlyMap<string, Given>, scope: OrderScope): boolean {
  const sections = answeredSections(own, scope);
  if (!scope.candidateSections.some((s) => sections.has(s))) return false;
  if (scope.bodySites.length === 0) return true;
  const sites = siteCodings(qr['item']);
  return sites.some((site) => scope.bodySites.some((b) => sameCoding(site, b)));
}

function recentEnough(qr: Rec, q: AttestationQuery): boolean {
  if (q.maxAgeDays === undefined || q.evaluationDate === undefined) return true;
  const authored = typeof qr['authored'] === 'string' ? Date.parse(qr['authored']) : NaN;
  if (Number.isNaN(authored)) return false;
  return Date.parse(q.evaluationDate) - authored <= q.maxAgeDays * 86_400_000;
}

/** Authored more than a day after the evaluation day (beyond any time-zone offset): a wrong clock or a made-up date. */
function authoredAfter(qr: Rec, q: AttestationQuery): boolean {
  if (q.evaluationDate === undefined || typeof qr['authored'] !== 'string') return false;
  const authored = Date.parse(qr['authored']);
  return !Number.isNaN(authored) && authored > Date.parse(q.evaluationDate) + 2 * 86_400_000;
}

/** Responses need a "yes" to the attestation item; those not linked to the order also expire. */
export function attestationsFor(q: AttestationQuery): Attestations {
  const candidates = q.responses
    .map((r) => r as unknown as Rec)
    .filter((qr) => qr['resourceType'] === 'QuestionnaireResponse')
    .filter((qr) => qr['status'] === 'completed' || qr['status'] === 'amended')
    .filter((qr) => canonicalWithoutVersion(qr['questionnaire']) === q.questionnaireUrl)
    // A response must name the patient it was given for (DTR and SDC require subject): one without it, or for
    // another patient, attests nothing here.
    .filter((qr) => isObject(qr['subject']) && qr['subject']['reference'] === `Patient/${q.patientId}`)
    .filter((qr) => !authoredAfter(qr, q))
    .map((qr) => ({ qr, linked: linkedOrders(qr) }))
    .filter(
      ({ linked }) => linked.length === 0 || (q.orderReference !== undefined && linked.includes(q.orderReference)),
    )
    .filter(({ qr, linked }) => linked.length > 0 || recentEnough(qr, q));
  const time = (qr: Rec) => (typeof qr['authored'] === 'string' ? Date.parse(qr['authored']) || 0 : 0);
  candidates.sort((a, b) => Number(b.linked.length > 0) - Number(a.linked.length > 0) || time(b.qr) - time(a.qr));

  const answers = new Map<string, Answer>();
  for (const { qr, linked } of candidates) {
    const own = new Map<string, Given>();
    collectAnswers(qr['item'], own);
    if (own.get(ATTESTATION_LINK_ID)?.value !== true) continue;
    if (linked.length === 0 && q.order && !appliesUnlinked(qr, own, q.order)) continue;
    const reference = typeof qr['id'] === 'string' ? `QuestionnaireResponse/${qr['id']}` : 'QuestionnaireResponse';
    const authored = typeof qr['authored'] === 'string' ? qr['authored'] : undefined;
    for (const [linkId, { value, origin }] of own) {
      if (!answers.has(linkId))
        answers.set(linkId, { value, origin, reference, linked: linked.length > 0, ...(authored ? { authored } : {}) });
    }
  }
  return { answer: (linkId) => answers.get(linkId) };
}
