import { isObject } from '../fhir/bundle.js';
import { conceptCodings } from '../fhir/coding.js';
import { orderReference } from '../fhir/order.js';
import { buildRecordIndex, RECORD_INDEX, type RecordIndex } from './record-index.js';

/**
 * What every leaf may refer to, besides the policy's named definitions: the order under review and the
 * patient's record, already reduced to trustworthy entries.
 *
 * %order            the draft order under review
 * %evaluationDate   'YYYY-MM-DD' (use .toDate())
 * %patient          the Patient
 * %coverages        every Coverage in the data
 * %conditions       current Conditions: not refuted or entered-in-error, not inactive/remission/resolved
 * %conditionHistory every Condition that is not refuted or entered-in-error (for rules about history)
 * %observations     Observations that are not entered-in-error, cancelled or preliminary
 * %procedures       Procedures that happened: not entered-in-error, not-done or preparation
 * %indications      why the order is placed: its reasonCode concepts and reasonReference Conditions; without
 *                   a usable reason, the patient's current Conditions
 * %indicationSource 'order', 'record' or 'none'
 * %unavailableData  keys of the data queries whose answer was incomplete
 * %treatedConditions  per section: the Conditions the order treats (its reasons in the section's indication
 *                   lists, else record Conditions coded as its reasons, else the current ones in those lists), with
 *                   the primary a treated secondary belongs to (policy `evidence` declaration; rules/treated-condition.ts)
 * %tiedObservations per section: the staging, size and status Observations (the declared evidence codes) that are
 *                   about the treated condition; untied ones only when it is the member's only neoplasm
 * %treatedSecondaries per section: current Conditions coded as secondaries (the declared `secondaries` lists) that
 *                   belong to the treated condition - linked to it or its primary, or unlinked when it is the
 *                   member's only cancer (ruling R1: a secondary site belongs to its primary)
 * %unplacedSecondaries per section: current secondary-coded Conditions linked to no cancer while the member has
 *                   several cancers - neither the treated condition's nor another's
 * %signer           the user signing the order (context.userId) as a Reference, empty when none is known
 * %orderMethod      what states the order is done by the method the policy governs (a method-specific code, or the
 *                   order's words naming it); empty when its codes describe any method and it names none
 */

export const ENGINE_VARIABLES = [
  'order',
  'evaluationDate',
  'patient',
  'coverages',
  'conditions',
  'conditionHistory',
  'observations',
  'procedures',
  'indications',
  'indicationSource',
  'unavailableData',
  'treatedConditions',
  'tiedObservations',
  'treatedSecondaries',
  'unplacedSecondaries',
  'signer',
  'orderMethod',
] as const;

/** Engine variables that differ from one section of an order to the next. */
export const SECTION_VARIABLES = [
  'treatedConditions',
  'tiedObservations',
  'treatedSecondaries',
  'unplacedSecondaries',
] as const;

/** FHIRPath's own environment variables, always allowed. */
export const FHIRPATH_VARIABLES = ['context', 'resource', 'rootResource', 'ucum', 'sct', 'loinc'] as const;

export interface EvaluationInput {
  readonly order: Record<string, unknown> & { resourceType: string };
  readonly resources: readonly fhir4.Resource[];
  readonly patientId: string;
  readonly evaluationDate: string;
  readonly unavailableData: readonly string[];
  /** The user signing the order (CDS Hooks context.userId, e.g. `Practitioner/123`). */
  readonly userId?: string | undefined;
  /** What states the governed method (the scope's reading of the order); empty when unstated. */
  readonly method?: readonly string[] | undefined;
}

export interface Environment {
  readonly bundle: fhir4.Bundle;
  readonly vars: Record<string, unknown>;
  /** The patient's trusted-or-not record indexed once per request. */
  readonly index: RecordIndex;
}

function codeOf(element: unknown): string | undefined {
  return conceptCodings(element).find((c) => c.code !== undefined)?.code;
}

const statusOf = (r: Record<string, unknown>, element: string): string | undefined =>
  element === 'status' ? (typeof r['status'] === 'string' ? r['status'] : undefined) : codeOf(r[element]);

function ofType<T extends fhir4.Resource>(resources: readonly fhir4.Resource[], type: T['resourceType']): T[] {
  return resources.filter((r): r is T => r.resourceType === type);
}

/** True unless the resource names another patient as its subject. */
function aboutPatient(r: fhir4.Resource, patientId: string): boolean {
  const rec = r as unknown as Record<string, unknown>;
  for (const element of ['subject', 'patient', 'beneficiary']) {
    const ref = isObject(rec[element]) ? rec[element]['reference'] : undefined;
    if (typeof ref === 'string' && ref.startsWith('Patient/') && ref !== `Patient/${patientId}`) return false;
  }
  return true;
}

function dedupe(resources: readonly fhir4.Resource[]): fhir4.Resource[] {
  const seen = new Set<string>();
  return resources.filter((r) => {
    if (!r.id) return true;
    const key = `${r.resourceType}/${r.id}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const UNTRUSTED_VERIFICATION = new Set(['refuted', 'entered-in-error']);
const NOT_CURRENT = new Set(['inactive', 'remission', 'resolved']);
const UNTRUSTED_OBSERVATION = new Set(['entered-in-error', 'cancelled', 'preliminary']);
const NOT_PERFORMED = new Set(['entered-in-error', 'not-done', 'preparation']);

function orderReasons(order: Record<string, unknown>, history: readonly fhir4.Condition[]): unknown[] {
  const concepts = Array.isArray(order['reasonCode']) ? order['reasonCode'].filter(isObject) : [];
  const references = Array.isArray(order['reasonReference']) ? order['reasonReference'].filter(isObject) : [];
  const conditions = references.flatMap((ref) => {
    const target = ref['reference'];
    const found = history.find((c) => `Condition/${c.id}` === target);
    return found ? [found] : [];
  });
  return [...concepts.filter((c) => codeOf(c) !== undefined), ...conditions];
}

interface PatientRecord {
  readonly resources: readonly fhir4.Resource[];
  readonly index: RecordIndex;
}

/** Per request: the orders of one call share the resources array, so the record is reduced and indexed once. */
const records = new WeakMap<readonly fhir4.Resource[], Map<string, PatientRecord>>();

function patientRecord(all: readonly fhir4.Resource[], patientId: string): PatientRecord {
  let byPatient = records.get(all);
  if (!byPatient) records.set(all, (byPatient = new Map<string, PatientRecord>()));
  let record = byPatient.get(patientId);
  if (!record) {
    const resources = dedupe(all).filter((r) => aboutPatient(r, patientId));
    byPatient.set(patientId, (record = { resources, index: buildRecordIndex(resources) }));
  }
  return record;
}

/**
 * The record and the order as the Bundle FHIRPath starts from. Its entries are made when first read: only an
 * expression navigating from the root (none of the closures, few fhirpath.js expressions) reads them.
 */
function recordBundle(resources: readonly fhir4.Resource[], order: EvaluationInput['order']): fhir4.Bundle {
  let entries: fhir4.BundleEntry[] | undefined;
  return {
    resourceType: 'Bundle',
    type: 'collection',
    get entry(): fhir4.BundleEntry[] {
      if (!entries) {
        const orderRef = orderReference(order);
        const others = resources.filter((r) => !orderRef || `${r.resourceType}/${r.id}` !== orderRef);
        entries = [...others, order as unknown as fhir4.Resource].map((resource) => ({ resource }));
      }
      return entries;
    },
  };
}

export function environment(input: EvaluationInput): Environment {
  const { resources, index } = patientRecord(input.resources, input.patientId);
  const history = ofType<fhir4.Condition>(resources, 'Condition').filter(
    (c) => !UNTRUSTED_VERIFICATION.has(statusOf(c as unknown as Record<string, unknown>, 'verificationStatus') ?? ''),
  );
  const conditions = history.filter(
    (c) => !NOT_CURRENT.has(statusOf(c as unknown as Record<string, unknown>, 'clinicalStatus') ?? ''),
  );
  const reasons = orderReasons(input.order, history);
  const indications = reasons.length > 0 ? reasons : conditions;
  const indicationSource = reasons.length > 0 ? 'order' : conditions.length > 0 ? 'record' : 'none';
  return {
    bundle: recordBundle(resources, input.order),
    vars: {
      order: [input.order],
      evaluationDate: input.evaluationDate,
      patient: ofType(resources, 'Patient').filter((p) => p.id === input.patientId),
      coverages: ofType(resources, 'Coverage'),
      conditions,
      conditionHistory: history,
      observations: ofType<fhir4.Observation>(resources, 'Observation').filter(
        (o) => !UNTRUSTED_OBSERVATION.has(o.status),
      ),
      procedures: ofType<fhir4.Procedure>(resources, 'Procedure').filter((p) => !NOT_PERFORMED.has(p.status)),
      indications,
      indicationSource,
      unavailableData: [...input.unavailableData],
      treatedConditions: [],
      tiedObservations: [],
      treatedSecondaries: [],
      unplacedSecondaries: [],
      signer: input.userId ? [{ reference: input.userId, display: 'the user signing the order' }] : [],
      orderMethod: [...(input.method ?? [])],
      [RECORD_INDEX]: index,
    },
    index,
  };
}
