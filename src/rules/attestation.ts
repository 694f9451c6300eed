import { isObject, type Rec } from '../fhir/bundle.js';
import { readCoding, type Coding } from '../fhir/coding.js';

/**
 * Clinician attestation from QuestionnaireResponses to the service's own Questionnaire. Items are read by
 * linkId wherever they sit. Responses linked to an order (basedOn, or the DTR qr-context extension) apply to
 * that order only and come first; then the patient's unlinked responses; newest first within each.
 */

export const QR_CONTEXT = 'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/qr-context';
export const ATTESTATION_LINK_ID = 'attestation';

export interface Answer {
  readonly value: boolean | Coding;
  readonly reference: string;
  readonly authored?: string;
  /** Whether the response is linked to the order (basedOn, DTR qr-context). */
  readonly linked: boolean;
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

function collectAnswers(items: unknown, into: Map<string, Answer['value']>): void {
  if (!Array.isArray(items)) return;
  for (const item of items.filter(isObject)) {
    const answers = Array.isArray(item['answer']) ? item['answer'].filter(isObject) : [];
    const first = answers[0];
    if (typeof item['linkId'] === 'string' && first && !into.has(item['linkId'])) {
      if (typeof first['valueBoolean'] === 'boolean') into.set(item['linkId'], first['valueBoolean']);
      else {
        const coding = readCoding(first['valueCoding']);
        if (coding) into.set(item['linkId'], coding);
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
}

function recentEnough(qr: Rec, q: AttestationQuery): boolean {
  if (q.maxAgeDays === undefined || q.evaluationDate === undefined) return true;
  const authored = typeof qr['authored'] === 'string' ? Date.parse(qr['authored']) : NaN;
  if (Number.isNaN(authored)) return false;
  return Date.parse(q.evaluationDate) - authored <= q.maxAgeDays * 86_400_000;
}

/** Responses need a "yes" to the attestation item; those not linked to the order also expire. */
export function attestationsFor(q: AttestationQuery): Attestations {
  const candidates = q.responses
    .map((r) => r as unknown as Rec)
    .filter((qr) => qr['resourceType'] === 'QuestionnaireResponse')
    .filter((qr) => qr['status'] === 'completed' || qr['status'] === 'amended')
    .filter((qr) => canonicalWithoutVersion(qr['questionnaire']) === q.questionnaireUrl)
    .filter((qr) => {
      const subject = isObject(qr['subject']) ? qr['subject']['reference'] : undefined;
      return subject === undefined || subject === `Patient/${q.patientId}`;
    })
    .map((qr) => ({ qr, linked: linkedOrders(qr) }))
    .filter(({ linked }) => linked.length === 0 || (q.orderReference !== undefined && linked.includes(q.orderReference)))
    .filter(({ qr, linked }) => linked.length > 0 || recentEnough(qr, q));
  const time = (qr: Rec) => (typeof qr['authored'] === 'string' ? Date.parse(qr['authored']) || 0 : 0);
  candidates.sort((a, b) => Number(b.linked.length > 0) - Number(a.linked.length > 0) || time(b.qr) - time(a.qr));

  const answers = new Map<string, Answer>();
  for (const { qr, linked } of candidates) {
    const own = new Map<string, Answer['value']>();
    collectAnswers(qr['item'], own);
    if (own.get(ATTESTATION_LINK_ID) !== true) continue;
    const reference = typeof qr['id'] === 'string' ? `QuestionnaireResponse/${qr['id']}` : 'QuestionnaireResponse';
    const authored = typeof qr['authored'] === 'string' ? qr['authored'] : undefined;
    for (const [linkId, value] of own) {
      if (!answers.has(linkId)) answers.set(linkId, { value, reference, linked: linked.length > 0, ...(authored ? { authored } : {}) });
    }
  }
  return { answer: (linkId) => answers.get(linkId) };
}
