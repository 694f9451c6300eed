/**
 * The DTR 2.0.1 / 2.1 output profiles' required elements and invariants, as a checker that returns what is wrong
 * (empty when conformant): dtr-qpackage-output-parameters (PackageBundle 1..* in 2.0.1; operationOutcome 0..1 in
 * 2.1; inv-1), DTR-QPackageBundle (type collection, dtrb-1, one Questionnaire, at most one QuestionnaireResponse,
 * otherwise only ValueSet and Library: 2.1's closed slicing) and dtr-questionnaireresponse (questionnaire 1..1 and
 * version-specific, subject 1..1 Patient, basedOn and partOf 0..0, item 1..*, qr-context 2..* with a Coverage and
 * a request, intendedUse 1..*, information-origin 1..1 on every answer with source auto | override | manual and
 * dtrx-1) plus SDC's structural rules that a renderer relies on (linkIds and nesting as in the Questionnaire,
 * answers typed as their item).
 */

const QR_CONTEXT = 'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/qr-context';
const INTENDED_USE = 'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/intendedUse';
const INFORMATION_ORIGIN = 'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/information-origin';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): Rec[] => (Array.isArray(v) ? v.filter(isRec) : []);
const valueKeys = (r: Rec) => Object.keys(r).filter((k) => /^value[A-Z]/.test(k));

export function checkOutputParameters(output: unknown): string[] {
  const errors: string[] = [];
  if (!isRec(output) || output['resourceType'] !== 'Parameters') return ['not a Parameters resource'];
  const params = list(output['parameter']);
  if (params.length === 0) errors.push('Parameters.parameter: 1..* required');
  params.forEach((p, i) => {
    const count = valueKeys(p).length + (p['resource'] ? 1 : 0) + (p['part'] ? 1 : 0);
    if (count !== 1) errors.push(`parameter[${i}]: inv-1 (exactly one of value, resource, part)`);
  });
  const bundles = params.filter((p) => p['name'] === 'PackageBundle');
  if (bundles.length === 0) errors.push('PackageBundle: 1..* required (2.0.1)');
  const outcomes = params.filter((p) => p['name'] === 'operationOutcome');
  if (outcomes.length > 1) errors.push('operationOutcome: 0..1 (2.1)');
  for (const o of outcomes)
    if (!isRec(o['resource']) || o['resource']['resourceType'] !== 'OperationOutcome')
      errors.push('operationOutcome: resource must be an OperationOutcome');
  bundles.forEach((p, i) => errors.push(...checkPackageBundle(p['resource']).map((e) => `PackageBundle[${i}]: ${e}`)));
  return errors;
}

export function checkPackageBundle(bundle: unknown): string[] {
  if (!isRec(bundle) || bundle['resourceType'] !== 'Bundle') return ['not a Bundle'];
  const errors: string[] = [];
  if (bundle['type'] !== 'collection') errors.push('type must be collection');
  const resources = list(bundle['entry']).map((e) => (isRec(e['resource']) ? e['resource'] : {}));
  if (resources.length === 0) return [...errors, 'entry: 1..* required'];
  if (resources[0]?.['resourceType'] !== 'Questionnaire')
    errors.push('dtrb-1: the first entry must be a Questionnaire');
  const types = resources.map((r) => r['resourceType']);
  if (types.filter((t) => t === 'Questionnaire').length !== 1) errors.push('exactly one Questionnaire');
  if (types.filter((t) => t === 'QuestionnaireResponse').length > 1) errors.push('at most one QuestionnaireResponse');
  for (const t of types)
    if (!['Questionnaire', 'QuestionnaireResponse', 'ValueSet', 'Library'].includes(String(t)))
      errors.push(`entry of type ${String(t)} not allowed (closed slicing)`);
  const q = resources[0];
  for (const qr of resources.filter((r) => r['resourceType'] === 'QuestionnaireResponse')) {
    errors.push(...checkQuestionnaireResponse(qr, q).map((e) => `QuestionnaireResponse: ${e}`));
  }
  return errors;
}

function itemIndex(items: unknown, into = new Map<string, Rec>()): Map<string, Rec> {
  for (const item of list(items)) {
    if (typeof item['linkId'] === 'string') into.set(item['linkId'], item);
    itemIndex(item['item'], into);
  }
  return into;
}

const ANSWER_TYPES: Record<string, string[]> = {
  boolean: ['valueBoolean'],
  choice: ['valueCoding', 'valueString'],
  'open-choice': ['valueCoding', 'valueString'],
  string: ['valueString'],
  text: ['valueString'],
  integer: ['valueInteger'],
  decimal: ['valueDecimal'],
  date: ['valueDate'],
  dateTime: ['valueDateTime'],
};

function checkOrigin(answer: Rec, at: string): string[] {
  const origins = list(answer['extension']).filter((e) => e['url'] === INFORMATION_ORIGIN);
  if (origins.length !== 1) return [`${at}: information-origin 1..1 (found ${origins.length})`];
  const parts = list(origins[0]!['extension']);
  const sources = parts.filter((p) => p['url'] === 'source');
  const errors: string[] = [];
  if (sources.length !== 1 || !['auto', 'override', 'manual'].includes(String(sources[0]!['valueCode'])))
    errors.push(`${at}: information-origin source 1..1 in auto | override | manual`);
  const auto = sources[0]?.['valueCode'] === 'auto';
  const author = parts.some((p) => p['url'] === 'author');
  if (auto === author) errors.push(`${at}: dtrx-1 (author required for override/manual, prohibited for auto)`);
  return errors;
}

function checkItems(items: unknown, parent: Rec | undefined, index: Map<string, Rec>, at: string): string[] {
  const errors: string[] = [];
  for (const [i, item] of list(items).entries()) {
    const here = `${at}.item[${i}]`;
    const linkId = item['linkId'];
    const def = typeof linkId === 'string' ? index.get(linkId) : undefined;
    if (!def) {
      errors.push(`${here}: linkId ${String(linkId)} is not in the Questionnaire`);
      continue;
    }
    const expectedParent = [...index.values()].find((q) => list(q['item']).includes(def));
    if ((expectedParent?.['linkId'] ?? undefined) !== (parent?.['linkId'] ?? undefined))
      errors.push(`${here}: ${String(linkId)} is nested differently than in the Questionnaire`);
    const answers = list(item['answer']);
    if (def['type'] === 'group' && answers.length > 0) errors.push(`${here}: a group has no answer`);
    if (answers.length > 1 && def['repeats'] !== true)
      errors.push(`${here}: more than one answer to a non-repeating item`);
    for (const [j, a] of answers.entries()) {
      const allowed = ANSWER_TYPES[String(def['type'])] ?? [];
      const keys = valueKeys(a);
      if (keys.length !== 1 || !allowed.includes(keys[0]!))
        errors.push(
          `${here}.answer[${j}]: value ${keys.join(',') || 'none'} does not fit a ${String(def['type'])} item`,
        );
      errors.push(...checkOrigin(a, `${here}.answer[${j}]`));
      errors.push(...checkItems(a['item'], def, index, `${here}.answer[${j}]`));
    }
    errors.push(...checkItems(item['item'], def, index, here));
  }
  return errors;
}

export function checkQuestionnaireResponse(qr: Rec, questionnaire: Rec | undefined): string[] {
  const errors: string[] = [];
  const canonical = qr['questionnaire'];
  if (typeof canonical !== 'string') errors.push('questionnaire 1..1 required');
  else if (questionnaire && canonical !== `${String(questionnaire['url'])}|${String(questionnaire['version'])}`)
    errors.push(`questionnaire ${canonical} is not the bundle's Questionnaire with its version`);
  const subject = isRec(qr['subject']) ? qr['subject']['reference'] : undefined;
  if (typeof subject !== 'string' || !/^Patient\/[A-Za-z0-9\-.]{1,64}$/.test(subject))
    errors.push('subject 1..1 must reference a Patient');
  if (!['in-progress', 'completed', 'amended', 'entered-in-error', 'stopped'].includes(String(qr['status'])))
    errors.push('status 1..1 required');
  if (qr['basedOn'] !== undefined) errors.push('basedOn 0..0');
  if (qr['partOf'] !== undefined) errors.push('partOf 0..0');
  if (list(qr['item']).length === 0) errors.push('item 1..* required');
  const extensions = list(qr['extension']);
  const contexts = extensions
    .filter((e) => e['url'] === QR_CONTEXT)
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- the check reads a reference as the QuestionnaireResponse gives it, whatever its JSON type
    .map((e) => (isRec(e['valueReference']) ? String(e['valueReference']['reference'] ?? '') : ''));
  if (contexts.length < 2) errors.push('qr-context 2..* required');
  if (!contexts.some((r) => r.startsWith('Coverage/'))) errors.push('qr-context must name a Coverage');
  if (!contexts.some((r) => r !== '' && !r.startsWith('Coverage/')))
    errors.push('qr-context must name a request or encounter');
  const uses = extensions.filter((e) => e['url'] === INTENDED_USE);
  if (uses.length === 0) errors.push('intendedUse 1..* required');
  for (const u of uses) if (!isRec(u['valueCodeableConcept'])) errors.push('intendedUse needs valueCodeableConcept');
  if (questionnaire)
    errors.push(...checkItems(qr['item'], undefined, itemIndex(questionnaire['item']), 'QuestionnaireResponse'));
  return errors;
}
