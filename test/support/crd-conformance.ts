/**
 * The checks the Inferno Da Vinci CRD server test kit applies to an order-sign answer (Groups C–G of
 * shared/research/inferno-crd-checks.md), plus the stricter ones the kit lists but does not run ("beyond").
 * Returns the problems found; an empty list means the answer would pass.
 */
import { omit } from './objects.js';

type Rec = Record<string, any>;

const CARD_TYPES = new Set([
  'coverage-info',
  'claim',
  'insurance',
  'limits',
  'network',
  'appropriate-use',
  'cost',
  'therapy-alternatives-opt',
  'therapy-alternatives-req',
  'clinical-reminder',
  'duplicate-therapy',
  'contraindication',
  'guideline',
  'off-guideline',
]);
const TEMP = 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp';
const CI_URL = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';
const ORDER_TYPES = new Set([
  'DeviceRequest',
  'MedicationRequest',
  'NutritionOrder',
  'ServiceRequest',
  'VisionPrescription',
]);
const BINDINGS: Record<string, string[]> = {
  covered: ['covered', 'not-covered', 'conditional'],
  'pa-needed': ['no-auth', 'auth-needed', 'satisfied', 'performpa', 'conditional'],
  'doc-needed': ['clinical', 'admin', 'both', 'conditional'],
  'doc-purpose': ['withpa', 'withclaim', 'withorder', 'retain-doc', 'OTH'],
  'info-needed': ['performer', 'location', 'timeframe', 'contract-window', 'OTH'],
};
const REQUIRED_ELEMENTS: Record<string, string[]> = {
  ServiceRequest: ['status', 'intent', 'code', 'subject', 'authoredOn', 'requester'],
};

const nonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isAbsoluteHttp = (u: unknown) => nonEmptyString(u) && /^https?:\/\/[^/]+/.test(u);

/** CDS Hooks: no null or empty values anywhere but the response's own cards/systemActions. */
function emptyValues(value: unknown, path: string, out: string[]): void {
  if (value === null || value === '') out.push(`${path} is ${JSON.stringify(value)}`);
  else if (Array.isArray(value)) {
    if (value.length === 0) out.push(`${path} is an empty array`);
    value.forEach((v, i) => emptyValues(v, `${path}[${i}]`, out));
  } else if (typeof value === 'object') {
    if (Object.keys(value).length === 0) out.push(`${path} is an empty object`);
    for (const [k, v] of Object.entries(value as Rec)) emptyValues(v, `${path}.${k}`, out);
  }
}

function actionProblems(a: Rec, where: string): string[] {
  const p: string[] = [];
  if (!nonEmptyString(a?.type) || !['create', 'update', 'delete'].includes(a.type))
    p.push(`${where}.type must be create/update/delete`);
  if (!nonEmptyString(a?.description)) p.push(`${where}.description must be a non-empty string`);
  if ((a?.type === 'create' || a?.type === 'update') && !nonEmptyString(a?.resource?.resourceType))
    p.push(`${where}.resource must be a FHIR resource`);
  if (a?.type === 'delete' && !(nonEmptyString(a?.resourceId) && /^[A-Za-z]+\/[^/]+$/.test(a.resourceId)))
    p.push(`${where}.resourceId must be Type/id`);
  return p;
}

function cardProblems(c: Rec, where: string): string[] {
  const p: string[] = [];
  if (!nonEmptyString(c?.summary)) p.push(`${where}.summary missing`);
  else if (c.summary.length >= 140) p.push(`${where}.summary has ${c.summary.length} characters (must be < 140)`);
  if (!['info', 'warning', 'critical'].includes(c?.indicator)) p.push(`${where}.indicator invalid`);
  if (!nonEmptyString(c?.source?.label)) p.push(`${where}.source.label missing`);
  if (!nonEmptyString(c?.source?.topic?.code) || !nonEmptyString(c?.source?.topic?.system))
    p.push(`${where}.source.topic missing`);
  else if (c.source.topic.system !== TEMP || !CARD_TYPES.has(c.source.topic.code))
    p.push(`${where}.source.topic is not a CRD card type`);
  if (!nonEmptyString(c?.uuid)) p.push(`${where}.uuid missing (needed for feedback)`);
  if (c?.suggestions !== undefined) {
    if (!Array.isArray(c.suggestions) || c.suggestions.length === 0) p.push(`${where}.suggestions empty`);
    if (!['at-most-one', 'any'].includes(c.selectionBehavior))
      p.push(`${where}.selectionBehavior required with suggestions`);
    (c.suggestions ?? []).forEach((s: Rec, i: number) => {
      if (!nonEmptyString(s?.label)) p.push(`${where}.suggestions[${i}].label missing`);
      if (!nonEmptyString(s?.uuid)) p.push(`${where}.suggestions[${i}].uuid missing (CRD SHALL)`);
      if (s?.actions !== undefined && (!Array.isArray(s.actions) || s.actions.length === 0))
        p.push(`${where}.suggestions[${i}].actions empty`);
      (s?.actions ?? []).forEach((a: Rec, j: number) =>
        p.push(...actionProblems(a, `${where}.suggestions[${i}].actions[${j}]`)),
      );
    });
  } else if (c?.selectionBehavior !== undefined) p.push(`${where}.selectionBehavior without suggestions`);
  (c?.overrideReasons ?? []).forEach((o: Rec, i: number) => {
    if (!nonEmptyString(o?.code) || !nonEmptyString(o?.system) || !nonEmptyString(o?.display))
      p.push(`${where}.overrideReasons[${i}] needs code, system, display`);
  });
  (c?.links ?? []).forEach((l: Rec, i: number) => {
    if (!nonEmptyString(l?.label)) p.push(`${where}.links[${i}].label missing`);
    if (!isAbsoluteHttp(l?.url)) p.push(`${where}.links[${i}].url must be an absolute http(s) URL`);
    if (!['absolute', 'smart'].includes(l?.type)) p.push(`${where}.links[${i}].type invalid`);
    if (l?.type === 'absolute' && l?.appContext !== undefined) p.push(`${where}.links[${i}] absolute with appContext`);
  });
  return p;
}

function coverageInformationProblems(ext: Rec, where: string): string[] {
  const p: string[] = [];
  const subs: Rec[] = Array.isArray(ext.extension) ? ext.extension : [];
  const all = (url: string) => subs.filter((s) => s.url === url);
  const one = (url: string) => all(url)[0];
  for (const url of ['coverage', 'covered', 'date', 'coverage-assertion-id']) {
    if (all(url).length !== 1) p.push(`${where}: exactly one ${url} required`);
  }
  for (const url of ['pa-needed', 'doc-needed', 'satisfied-pa-id'])
    if (all(url).length > 1) p.push(`${where}: at most one ${url}`);
  if (!nonEmptyString(one('coverage')?.valueReference?.reference)) p.push(`${where}: coverage.valueReference`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(one('date')?.valueDate ?? '')) p.push(`${where}: date.valueDate`);
  if (!nonEmptyString(one('coverage-assertion-id')?.valueString)) p.push(`${where}: coverage-assertion-id.valueString`);
  for (const [url, codes] of Object.entries(BINDINGS)) {
    for (const s of all(url))
      if (!codes.includes(s.valueCode)) p.push(`${where}: ${url} = ${s.valueCode} not in its value set`);
  }
  const covered = one('covered')?.valueCode;
  const pa = one('pa-needed')?.valueCode;
  const doc = one('doc-needed')?.valueCode;
  // q1: questionnaire/response only with doc-needed
  if ((all('questionnaire').length > 0 || all('response').length > 0) && !doc)
    p.push(`${where}: q1 questionnaire without doc-needed`);
  // q2 as the 2.0.1 expression reads it, and as its prose and 2.1 read it
  if (covered !== 'not-covered' && !pa) p.push(`${where}: q2 (2.0.1 expression) pa-needed required unless not-covered`);
  if (covered === 'not-covered' && pa) p.push(`${where}: q2 (2.1) no pa-needed with not-covered`);
  // q3 both directions (2.0.1: info-needed ⇒ conditional; 2.1: conditional ⇒ info-needed)
  const conditional = [covered, pa, doc].includes('conditional');
  if (all('info-needed').length > 0 && !conditional) p.push(`${where}: q3 (2.0.1) info-needed without conditional`);
  if (conditional && all('info-needed').length === 0) p.push(`${where}: q3 (2.1) conditional without info-needed`);
  // q4, q5
  if (pa === 'satisfied' && all('doc-purpose').some((s) => s.valueCode === 'withpa')) p.push(`${where}: q4`);
  if ((pa === 'satisfied') !== all('satisfied-pa-id').length > 0)
    p.push(`${where}: q5 satisfied-pa-id iff pa-needed satisfied`);
  // 2.1 q6: info-needed OTH ⇒ reason
  if (all('info-needed').some((s) => s.valueCode === 'OTH') && all('reason').length === 0)
    p.push(`${where}: q6 info-needed OTH without reason`);
  for (const r of all('reason'))
    if (!nonEmptyString(r.valueCodeableConcept?.text) && !r.valueCodeableConcept?.coding)
      p.push(`${where}: reason empty`);
  for (const q of all('questionnaire'))
    if (!isAbsoluteHttp(q.valueCanonical)) p.push(`${where}: questionnaire canonical`);
  return p;
}

export function conformanceProblems(request: Rec, status: number, body: Rec): string[] {
  const p: string[] = [];
  if (status !== 200) return [`status ${status}`];
  if (!Array.isArray(body?.cards)) p.push('cards must be an array');
  if (!Array.isArray(body?.systemActions)) p.push('systemActions must be present for order-sign');
  const rest = omit(body ?? {}, 'cards', 'systemActions');
  if (Object.keys(rest).length > 0) p.push(`unexpected top-level fields ${Object.keys(rest).join(', ')}`);
  (body.cards ?? []).forEach((c: Rec, i: number) => {
    p.push(...cardProblems(c, `cards[${i}]`));
    emptyValues(c, `cards[${i}]`, p);
  });
  const uuids = (body.cards ?? []).flatMap((c: Rec) => [c.uuid, ...(c.suggestions ?? []).map((s: Rec) => s.uuid)]);
  if (new Set(uuids).size !== uuids.length) p.push('card and suggestion uuids must be unique');

  const drafts: Rec[] = (request.context?.draftOrders?.entry ?? []).map((e: Rec) => e.resource);
  const draftRefs = new Set(drafts.map((r) => `${r.resourceType}/${r.id}`));
  const updatedRefs: string[] = [];
  const assertionIds: { coverage: string; id: string }[] = [];
  (body.systemActions ?? []).forEach((a: Rec, i: number) => {
    const where = `systemActions[${i}]`;
    p.push(...actionProblems(a, where));
    emptyValues(a, where, p);
    const exts: Rec[] = (a.resource?.extension ?? []).filter((e: Rec) => e.url === CI_URL);
    if (exts.length === 0) return;
    if (a.type !== 'update') p.push(`${where}: coverage information must be an update`);
    if (!ORDER_TYPES.has(a.resource.resourceType))
      p.push(`${where}: coverage information on a ${a.resource.resourceType}`);
    const ref = `${a.resource.resourceType}/${a.resource.id}`;
    if (!draftRefs.has(ref)) p.push(`${where}: updates ${ref}, which is not among the draft orders`);
    updatedRefs.push(ref);
    const draft = drafts.find((d) => `${d.resourceType}/${d.id}` === ref);
    if (draft) {
      const withoutAssertions = (r: Rec) => {
        const others = (r.extension ?? []).filter((e: Rec) => e.url !== CI_URL);
        const rest = omit(r, 'extension');
        return others.length > 0 ? { ...rest, extension: others } : rest;
      };
      if (JSON.stringify(withoutAssertions(draft)) !== JSON.stringify(withoutAssertions(a.resource))) {
        p.push(`${where}: the order came back changed (beyond its coverage-information)`);
      }
      for (const el of REQUIRED_ELEMENTS[ref.split('/')[0]!] ?? []) {
        if (draft[el] !== undefined && a.resource[el] === undefined) p.push(`${where}: ${el} dropped from the order`);
      }
    }
    exts.forEach((e, j) => {
      p.push(...coverageInformationProblems(e, `${where}.extension[${j}]`));
      const coverage = e.extension?.find((s: Rec) => s.url === 'coverage')?.valueReference?.reference;
      const id = e.extension?.find((s: Rec) => s.url === 'coverage-assertion-id')?.valueString;
      assertionIds.push({ coverage, id });
    });
    const byCoverage = new Map<string, Set<string>>();
    exts.forEach((e) => {
      const coverage = e.extension?.find((s: Rec) => s.url === 'coverage')?.valueReference?.reference;
      const id = e.extension?.find((s: Rec) => s.url === 'coverage-assertion-id')?.valueString;
      byCoverage.set(coverage, (byCoverage.get(coverage) ?? new Set()).add(id));
    });
    for (const [coverage, ids] of byCoverage)
      if (ids.size !== 1) p.push(`${where}: several assertion ids for ${coverage}`);
  });
  if (new Set(updatedRefs).size !== updatedRefs.length)
    p.push('an order got more than one coverage-information update');
  const ids = assertionIds.map((a) => a.id);
  if (new Set(ids).size !== ids.length) p.push('coverage-assertion-id reused across orders');
  return p;
}
