/**
 * Writing DTR's information-origin extension: `auto` on the answers this service pre-fills, and `override` /
 * `manual` with the author on what a clinician changed or added (`markOrigins`, as a DTR client does). Reading
 * it (`classifyAnswers`, `answerVerdict`) lives in rules/information-origin.ts, which the next sign uses; it is
 * re-exported here.
 */

import { INFORMATION_ORIGIN } from '../rules/information-origin.js';

export {
  answerOrigin,
  answerVerdict,
  classifyAnswers,
  INFORMATION_ORIGIN,
  type AnswerVerdict,
  type ClassifiedAnswer,
  type Origin,
  type RecordState,
} from '../rules/information-origin.js';

/** The extension as this service writes it on each answer it pre-fills (source auto, no author per dtrx-1). */
export function autoOrigin(): fhir4.Extension {
  return { url: INFORMATION_ORIGIN, extension: [{ url: 'source', valueCode: 'auto' }] };
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): Rec[] => (Array.isArray(v) ? v.filter(isRec) : []);

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
  if (isRec(va) && isRec(vb) && ('code' in va || 'code' in vb))
    return va['code'] === vb['code'] && (va['system'] ?? vb['system']) === (vb['system'] ?? va['system']);
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
export function markOrigins(
  answered: fhir4.QuestionnaireResponse,
  prefilled: fhir4.QuestionnaireResponse,
  author: OriginAuthor,
): fhir4.QuestionnaireResponse {
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
                return {
                  ...answer,
                  ...nested,
                  extension: [...((earlier['extension'] as fhir4.Extension[] | undefined) ?? []), ...others],
                };
              }
              return {
                ...answer,
                ...nested,
                extension: [humanOrigin(earlier ? 'override' : 'manual', author), ...others],
              };
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
    ...((answered.subject ?? prefilled.subject) ? { subject: answered.subject ?? prefilled.subject } : {}),
    ...(item ? { item } : {}),
  };
}
