/**
 * DTR's information-origin extension on QuestionnaireResponse.item.answer (DTR 2.0.1 and 2.1, identical):
 * a complex extension with `source` (code from DTRInformationOrigins: auto | override | manual) and, for
 * `override` and `manual` only (dtrx-1), an `author` (sub-extensions `role` CodeableConcept, `practitioner`
 * Reference). DTR 2.2 splits `auto` into `auto-client` / `auto-server`; both are read as auto here.
 */

export const INFORMATION_ORIGIN = 'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/information-origin';

export type Origin = 'auto' | 'override' | 'manual';

/** The extension as this service writes it on each answer it pre-fills (source auto, no author per dtrx-1). */
export function autoOrigin(): fhir4.Extension {
  return { url: INFORMATION_ORIGIN, extension: [{ url: 'source', valueCode: 'auto' }] };
}

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

function originOf(answer: Rec): { origin: ClassifiedAnswer['origin']; author?: string } {
  const ext = list(answer['extension']).find((e) => e['url'] === INFORMATION_ORIGIN);
  if (!ext) return { origin: 'unmarked' };
  const parts = list(ext['extension']);
  const code = parts.find((p) => p['url'] === 'source')?.['valueCode'];
  const author = list(parts.find((p) => p['url'] === 'author')?.['extension']).find((p) => p['url'] === 'practitioner');
  const reference = isRec(author?.['valueReference']) ? author['valueReference']['reference'] : undefined;
  const origin: ClassifiedAnswer['origin'] =
    code === 'auto' || code === 'auto-client' || code === 'auto-server' ? 'auto'
    : code === 'override' || code === 'manual' ? code
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
        if (typeof linkId === 'string') out.push({ linkId, value: valueOf(answer), ...originOf(answer) });
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
export function answerVerdict(answer: ClassifiedAnswer, record: RecordState): AnswerVerdict {
  if (record.state === 'unknown') return 'decides';
  if (answer.origin === 'auto') return 'agrees-by-construction';
  const said = answer.value['valueBoolean'];
  if (typeof said !== 'boolean') return 'decides';
  return said === (record.state === 'met') ? 'agrees' : 'contradicts';
}

export interface OriginAuthor {
  /** The clinician answering, e.g. { reference: 'Practitioner/p1' }. */
  readonly practitioner: fhir4.Reference;
  readonly role?: fhir4.CodeableConcept;
}

function sameValue(a: Rec, b: Rec): boolean {
  const ka = Object.keys(a).filter((k) => k.startsWith('value'));
  const kb = Object.keys(b).filter((k) => k.startsWith('value'));
  if (ka.length !== 1 || kb.length !== 1 || ka[0] !== kb[0]) return false;
  const va = a[ka[0]!];
  const vb = b[kb[0]!];
  if (isRec(va) && isRec(vb) && ('code' in va || 'code' in vb)) return va['code'] === vb['code'] && (va['system'] ?? vb['system']) === (vb['system'] ?? va['system']);
  return JSON.stringify(va) === JSON.stringify(vb);
}

function humanOrigin(source: 'override' | 'manual', author: OriginAuthor): fhir4.Extension {
  return {
    url: INFORMATION_ORIGIN,
    extension: [
      { url: 'source', valueCode: source },
      {
        url: 'author',
        extension: [
          ...(author.role ? [{ url: 'role', valueCodeableConcept: author.role }] : []),
          { url: 'practitioner', valueReference: author.practitioner },
        ],
      },
    ],
  };
}

/**
 * What a DTR client does with the response a renderer hands back when the renderer drops answer extensions (as
 * LHC-Forms does): each answer equal to the pre-filled one gets the pre-filled answer's extensions back (source
 * auto, evidence); an answer that differs from a pre-filled one becomes `override`, a new one `manual`, both with
 * the author (dtrx-1). Answers that already carry an origin keep it. The response's own links (subject,
 * qr-context, intendedUse) come back from the pre-filled response where the renderer lost them.
 */
export function markOrigins(answered: fhir4.QuestionnaireResponse, prefilled: fhir4.QuestionnaireResponse, author: OriginAuthor): fhir4.QuestionnaireResponse {
  const before = new Map<string, Rec>();
  const index = (items: unknown) => {
    for (const item of list(items)) {
      const first = list(item['answer'])[0];
      if (typeof item['linkId'] === 'string' && first && !before.has(item['linkId'])) before.set(item['linkId'], first);
      index(item['item']);
      for (const a of list(item['answer'])) index(a['item']);
    }
  };
  index(prefilled.item);
  const mark = (items: fhir4.QuestionnaireResponseItem[] | undefined): fhir4.QuestionnaireResponseItem[] | undefined =>
    items?.map((item) => ({
      ...item,
      ...(item.item ? { item: mark(item.item) } : {}),
      ...(item.answer
        ? {
            answer: item.answer.map((answer) => {
              const nested = answer.item ? { item: mark(answer.item) } : {};
              if (answer.extension?.some((e) => e.url === INFORMATION_ORIGIN)) return { ...answer, ...nested };
              const earlier = before.get(item.linkId);
              const others = (answer.extension ?? []).filter((e) => e.url !== INFORMATION_ORIGIN);
              if (earlier && sameValue(answer as unknown as Rec, earlier)) {
                return { ...answer, ...nested, extension: [...((earlier['extension'] as fhir4.Extension[] | undefined) ?? []), ...others] };
              }
              return { ...answer, ...nested, extension: [humanOrigin(earlier ? 'override' : 'manual', author), ...others] };
            }),
          }
        : {}),
    }));
  const own = new Set((answered.extension ?? []).map((e) => e.url));
  const links = (prefilled.extension ?? []).filter((e) => !own.has(e.url));
  const extension = [...(answered.extension ?? []), ...links];
  const item = mark(answered.item);
  return {
    ...answered,
    ...(extension.length > 0 ? { extension } : {}),
    ...(answered.subject ?? prefilled.subject ? { subject: answered.subject ?? prefilled.subject } : {}),
    ...(item ? { item } : {}),
  };
}
