/**
 * Reading DTR's information-origin extension on QuestionnaireResponse.item.answer (DTR 2.0.1 and 2.1, identical):
 * a complex extension with `source` (code from DTRInformationOrigins: auto | override | manual) and, for
 * `override` and `manual` only (dtrx-1), an `author` (sub-extensions `role` CodeableConcept, `practitioner`
 * Reference). DTR 2.2 splits `auto` into `auto-client` / `auto-server`; both are read as auto here.
 *
 * Pure classification (no DTR wiring): the attestation reader uses it at the next sign, `dtr/` re-exports it
 * next to what writes the extension.
 */

export const INFORMATION_ORIGIN = 'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/information-origin';

export type Origin = 'auto' | 'override' | 'manual';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): Rec[] => (Array.isArray(v) ? v.filter(isRec) : []);

export interface ClassifiedAnswer {
  readonly linkId: string;
  /** The answer's value[x], e.g. { valueBoolean: true }. */
  readonly value: Readonly<Record<string, unknown>>;
  /** `unmarked` when the answer carries no (readable) information-origin: treat it as the clinician's. */
  readonly origin: Origin | 'unmarked';
  /** `practitioner` reference of the author, for override/manual. */
  readonly author?: string;
}

/** The information origin of one answer (a QuestionnaireResponse.item.answer as JSON). */
export function answerOrigin(answer: Rec): { origin: ClassifiedAnswer['origin']; author?: string } {
  const ext = list(answer['extension']).find((e) => e['url'] === INFORMATION_ORIGIN);
  if (!ext) return { origin: 'unmarked' };
  const parts = list(ext['extension']);
  const code = parts.find((p) => p['url'] === 'source')?.['valueCode'];
  const author = list(parts.find((p) => p['url'] === 'author')?.['extension']).find((p) => p['url'] === 'practitioner');
  const reference = isRec(author?.['valueReference']) ? author['valueReference']['reference'] : undefined;
  const origin: ClassifiedAnswer['origin'] =
    code === 'auto' || code === 'auto-client' || code === 'auto-server'
      ? 'auto'
      : code === 'override' || code === 'manual'
        ? code
        : 'unmarked';
  return { origin, ...(typeof reference === 'string' ? { author: reference } : {}) };
}

function valueOf(answer: Rec): Record<string, unknown> {
  return Object.fromEntries(Object.entries(answer).filter(([k]) => k.startsWith('value')));
}

/** Every answer of a QuestionnaireResponse, wherever it is nested, with its information origin. */
export function classifyAnswers(qr: unknown): ClassifiedAnswer[] {
  const out: ClassifiedAnswer[] = [];
  const visit = (items: unknown) => {
    for (const item of list(items)) {
      const linkId = item['linkId'];
      for (const answer of list(item['answer'])) {
        if (typeof linkId === 'string') out.push({ linkId, value: valueOf(answer), ...answerOrigin(answer) });
        visit(answer['item']);
      }
      visit(item['item']);
    }
  };
  if (isRec(qr)) visit(qr['item']);
  return out;
}

export interface RecordState {
  /** The record's state for the criterion at the next sign. */
  readonly state: 'met' | 'not-met' | 'unknown';
}

export type AnswerVerdict =
  /**
   * An auto answer while the record still decides: it said what the record said when the package was built, so
   * it adds nothing, and never contradicts (no human said it), even if the record has changed since.
   */
  | 'agrees-by-construction'
  /**
   * Where the record is silent now: a clinician's answer (override/manual/unmarked) decides; so does an auto
   * answer the clinician kept and attested (the record decided it when the package was built).
   */
  | 'decides'
  /** A clinician's answer that says what the record says. */
  | 'agrees'
  /** A clinician's answer that says the opposite of the record: ruling R3, pend (documentation needed). */
  | 'contradicts';

/**
 * How the next sign should weigh one boolean answer against the record (R3). An auto answer is never a
 * clinician's statement against the record, so it never contradicts; a human answer contradicting it pends.
 */
export function answerVerdict(answer: Pick<ClassifiedAnswer, 'origin' | 'value'>, record: RecordState): AnswerVerdict {
  if (record.state === 'unknown') return 'decides';
  if (answer.origin === 'auto') return 'agrees-by-construction';
  const said = answer.value['valueBoolean'];
  if (typeof said !== 'boolean') return 'decides';
  return said === (record.state === 'met') ? 'agrees' : 'contradicts';
}
