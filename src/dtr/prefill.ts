import type { CriterionEvaluation, EvidenceDisplay, PackageEvaluation } from './evaluation.js';
import { autoOrigin } from './information-origin.js';

/**
 * The initial QuestionnaireResponse of a DTR package (profile dtr-questionnaireresponse, DTR 2.0.1 / 2.1):
 * status in-progress, `questionnaire` = the versioned canonical, `subject` = the member, qr-context for every
 * Coverage and order, intendedUse from CRD's doc-purpose. It holds only what the record decided: a boolean item
 * whose criterion the record showed met (true) or not met (false), and a choice item naming the one section whose
 * indication the record shows. Each such answer carries information-origin `auto` and, per piece of evidence, a
 * derivation-reference extension (reference + display) that renderers ignore. Items that are disabled given
 * those answers (enableWhen) get none: SDC forbids answers on disabled items, and renderers drop them.
 * `basedOn` stays empty: the DTR QuestionnaireResponse profile sets it 0..0; qr-context links the order.
 */

export const DTR_QR_PROFILE = 'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/dtr-questionnaireresponse';
export const QR_CONTEXT = 'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/qr-context';
export const INTENDED_USE = 'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/intendedUse';
export const DERIVATION_REFERENCE = 'http://hl7.org/fhir/StructureDefinition/derivation-reference';
/** CRD's doc-purpose codes (CRD "temp" code system), the value set intendedUse is bound to. */
export const CRD_TEMP = 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp';

export interface PrefillInput {
  readonly questionnaire: fhir4.Questionnaire;
  readonly evaluation?: PackageEvaluation | undefined;
  /** The member: Coverage.beneficiary. */
  readonly subject: fhir4.Reference;
  /** e.g. [{ reference: 'Coverage/cov-1' }] */
  readonly coverages: readonly fhir4.Reference[];
  /** e.g. [{ reference: 'ServiceRequest/sr-1' }] */
  readonly orders: readonly fhir4.Reference[];
  /** CRD doc-purpose codes (withpa, withorder, retain-doc...); at least one is written. */
  readonly intendedUse: readonly string[];
  /** linkId of the choice item that asks which section applies (the engine's indication item). */
  readonly indicationLinkId?: string | undefined;
  readonly authored: string;
}

/** `url|version`, or the bare url when the Questionnaire has no version. */
export function versionedCanonical(q: fhir4.Questionnaire): string {
  if (!q.url) throw new Error('the Questionnaire has no url');
  return q.version ? `${q.url}|${q.version}` : q.url;
}

type Answer = fhir4.QuestionnaireResponseItemAnswer;
type QItem = fhir4.QuestionnaireItem;

function evidenceExtension(e: EvidenceDisplay): fhir4.Extension {
  return {
    url: DERIVATION_REFERENCE,
    extension: [
      { url: 'reference', valueReference: { ...(e.reference ? { reference: e.reference } : {}), display: e.display } },
    ],
  };
}

function autoAnswer(value: Omit<Answer, 'extension'>, evaluation: CriterionEvaluation): Answer {
  return { ...value, extension: [autoOrigin(), ...evaluation.evidence.map(evidenceExtension)] };
}

function walk(items: readonly QItem[] | undefined, visit: (item: QItem) => void): void {
  for (const item of items ?? []) {
    visit(item);
    walk(item.item, visit);
  }
}

/** The answers the record decides, by linkId, before enableWhen is considered. */
export function recordAnswers(
  input: Pick<PrefillInput, 'questionnaire' | 'evaluation' | 'indicationLinkId'>,
): Map<string, Answer> {
  const out = new Map<string, Answer>();
  const evaluation = input.evaluation;
  if (!evaluation) return out;
  walk(input.questionnaire.item, (item) => {
    if (item.type === 'boolean') {
      const c = evaluation.criteria[item.linkId];
      if (c?.byRecord && c.state !== 'unknown')
        out.set(item.linkId, autoAnswer({ valueBoolean: c.state === 'met' }, c));
    }
    if (item.type === 'choice' && item.linkId === input.indicationLinkId) {
      const indicated = Object.entries(evaluation.indications).filter(([, c]) => c.byRecord && c.state === 'met');
      const only = indicated.length === 1 ? indicated[0] : undefined;
      const option = only && item.answerOption?.find((o) => o.valueCoding?.code === only[0]);
      if (only && option?.valueCoding) out.set(item.linkId, autoAnswer({ valueCoding: option.valueCoding }, only[1]));
    }
  });
  return out;
}

function sameCoding(a: fhir4.Coding | undefined, b: fhir4.Coding | undefined): boolean {
  return !!a && !!b && a.code === b.code && (a.system === undefined || b.system === undefined || a.system === b.system);
}

function matches(condition: fhir4.QuestionnaireItemEnableWhen, answer: Answer | undefined): boolean | undefined {
  if (condition.operator === 'exists') return (answer !== undefined) === condition.answerBoolean;
  if (condition.operator !== '=' && condition.operator !== '!=') return undefined;
  let equal: boolean;
  if (answer === undefined) equal = false;
  else if (condition.answerCoding) equal = sameCoding(condition.answerCoding, answer.valueCoding);
  else if (condition.answerBoolean !== undefined) equal = answer.valueBoolean === condition.answerBoolean;
  else if (condition.answerString !== undefined) equal = answer.valueString === condition.answerString;
  else if (condition.answerInteger !== undefined) equal = answer.valueInteger === condition.answerInteger;
  else return undefined;
  return condition.operator === '=' ? equal : answer !== undefined && !equal;
}

const ENABLE_WHEN_EXPRESSION = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression';

/** Whether the item is enabled given the answers; an expression or operator this cannot evaluate counts as disabled. */
export function isEnabled(item: QItem, answers: ReadonlyMap<string, Answer>): boolean {
  if (item.extension?.some((e) => e.url === ENABLE_WHEN_EXPRESSION)) return false;
  const conditions = item.enableWhen ?? [];
  if (conditions.length === 0) return true;
  const results = conditions.map((c) => matches(c, answers.get(c.question)));
  if (results.some((r) => r === undefined)) return false;
  return item.enableBehavior === 'any' ? results.some(Boolean) : results.every(Boolean);
}

function responseItems(
  items: readonly QItem[] | undefined,
  answers: ReadonlyMap<string, Answer>,
  topLevel: boolean,
): fhir4.QuestionnaireResponseItem[] {
  return (items ?? []).flatMap((item): fhir4.QuestionnaireResponseItem[] => {
    if (item.type === 'display' || !isEnabled(item, answers)) return [];
    const answer = item.type === 'group' ? undefined : answers.get(item.linkId);
    const children = responseItems(item.item, answers, false);
    const base = { linkId: item.linkId, ...(item.text ? { text: item.text } : {}) };
    if (item.type === 'group')
      return children.length > 0 || (topLevel && !item.enableWhen)
        ? [{ ...base, ...(children.length ? { item: children } : {}) }]
        : [];
    // Children of a question hang under its answer; an unanswered question keeps none.
    if (answer) return [{ ...base, answer: [children.length > 0 ? { ...answer, item: children } : answer] }];
    return topLevel && !item.enableWhen ? [base] : [];
  });
}

function docPurposeCoding(code: string): fhir4.CodeableConcept {
  return { coding: [{ system: CRD_TEMP, code }] };
}

export function prefilledResponse(input: PrefillInput): fhir4.QuestionnaireResponse {
  const answers = recordAnswers(input);
  const uses = input.intendedUse.length > 0 ? input.intendedUse : ['withorder'];
  return {
    resourceType: 'QuestionnaireResponse',
    meta: { profile: [DTR_QR_PROFILE] },
    extension: [
      ...[...input.coverages, ...input.orders].map((r) => ({ url: QR_CONTEXT, valueReference: r })),
      ...uses.map((code) => ({ url: INTENDED_USE, valueCodeableConcept: docPurposeCoding(code) })),
    ],
    questionnaire: versionedCanonical(input.questionnaire),
    status: 'in-progress',
    subject: input.subject,
    authored: input.authored,
    item: responseItems(input.questionnaire.item, answers, true),
  };
}
