import { randomUUID } from 'node:crypto';
import { evaluationFromTrace, type PackageEvaluation } from './evaluation.js';
import {
  packageFailure,
  parseCanonical,
  type OrderResource,
  type PackageFailure,
  type PackageRequest,
  type RequestedQuestionnaire,
  type Result,
} from './package-input.js';
import { prefilledResponse, versionedCanonical } from './prefill.js';

/**
 * Da Vinci DTR `$questionnaire-package` (2.0.1 / 2.1): which Questionnaires, which stored evaluation pre-fills
 * them, and the output Parameters (`dtr-qpackage-output-parameters`): one `PackageBundle` per Questionnaire — a
 * `collection` Bundle (DTR-QPackageBundle) with the Questionnaire first (dtrb-1), the pre-filled response, then
 * the ValueSets it references — and an `operationOutcome` with warnings (a requested Questionnaire not found,
 * a ValueSet not available). Failures are values; nothing here logs.
 */

export const PACKAGE_BUNDLE_PROFILE = 'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/DTR-QPackageBundle';
export const OUTPUT_PARAMETERS_PROFILE =
  'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/dtr-qpackage-output-parameters';

/** What the package reads of a stored coverage assertion; the store's StoredAssertion fits it. */
export interface StoredEvaluation {
  /** The coverage-assertion-id. */
  readonly id: string;
  readonly orderRef: string;
  readonly coverageRef: string;
  readonly patientRef: string | null;
  /** `url|version` of the Questionnaire the assertion asked for (documentation-needed), else null. */
  readonly questionnaireCanonical: string | null;
  /** The coverage-information extension as sent (its doc-purpose becomes the response's intendedUse). */
  readonly coverageInformation: unknown;
  /** The OrderDecision for that order, as JSON. */
  readonly trace: unknown;
}

export type EvaluationQuery =
  { readonly assertionId: string } | { readonly orderRef: string; readonly coverageRef: string };

export interface QuestionnaireCatalog {
  /** The Questionnaire of that url (and version, when given; else the current one). */
  find(url: string, version?: string): fhir4.Questionnaire | undefined;
  /** A ValueSet by canonical (`url` or `url|version`), to put into the package. */
  valueSet?(canonical: string): fhir4.ValueSet | undefined;
}

/** The stored evaluation, undefined when none, `unavailable` when the store cannot answer now (503). */
export type EvaluationLookup = StoredEvaluation | undefined | 'unavailable';

export interface PackageDeps {
  readonly questionnaires: QuestionnaireCatalog;
  readonly findEvaluation: (query: EvaluationQuery) => Promise<EvaluationLookup>;
  /** Questionnaires for an order no assertion covers (e.g. from the service's scope); none when absent. */
  readonly questionnairesForOrder?: (order: OrderResource) => readonly string[];
  /** linkId of the engine's indication choice item (rules/decision INDICATION_LINK_ID). */
  readonly indicationLinkId?: string;
  readonly now: () => Date;
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

export function referenceOf(resource: { resourceType: string; id?: string | undefined }): string | undefined {
  return resource.id ? `${resource.resourceType}/${resource.id}` : undefined;
}

/** CRD doc-purpose codes in a coverage-information extension (or a resource carrying them). */
export function docPurposes(coverageInformation: unknown): string[] {
  const subs =
    isRec(coverageInformation) && Array.isArray(coverageInformation['extension'])
      ? coverageInformation['extension']
      : [];
  return subs.flatMap((e) =>
    isRec(e) && e['url'] === 'doc-purpose' && typeof e['valueCode'] === 'string' ? [e['valueCode']] : [],
  );
}

function sameCanonical(a: RequestedQuestionnaire, q: fhir4.Questionnaire): boolean {
  return a.url === q.url && (a.version === undefined || a.version === q.version);
}

interface Resolved {
  readonly stored?: StoredEvaluation;
}

const storeUnavailable = (): PackageFailure => ({
  ...packageFailure(503, 'transient', 'The coverage assertions cannot be read now; retry shortly'),
  headers: { 'Retry-After': '5' },
});

/** `Patient/{id}` of a beneficiary reference, relative or absolute. */
function patientOf(reference: string | undefined): string | undefined {
  const m =
    reference === undefined ? null : /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference);
  return m ? `Patient/${m[1]!}` : undefined;
}

async function storedFor(request: PackageRequest, deps: PackageDeps): Promise<Result<Resolved>> {
  const coverageRefs = request.coverages
    .map((c) => referenceOf({ resourceType: 'Coverage', id: c.id }))
    .filter((r): r is string => !!r);
  const orderRefs = request.orders.map((o) => referenceOf(o)).filter((r): r is string => !!r);
  // The pre-filled answers are about one member: an assertion about another patient is never handed out.
  const members = request.coverages
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a client's Coverage may lack the beneficiary its type requires
    .map((c) => patientOf(c.beneficiary?.reference))
    .filter((r): r is string => r !== undefined);
  const sameMember = (stored: StoredEvaluation): boolean =>
    members.length > 0 && stored.patientRef !== null && members.includes(stored.patientRef);
  if (request.context !== undefined) {
    const stored = await deps.findEvaluation({ assertionId: request.context });
    if (stored === 'unavailable') return { ok: false, failure: storeUnavailable() };
    if (!stored) {
      return {
        ok: false,
        failure: packageFailure(
          404,
          'not-found',
          `No coverage assertion "${request.context}": send the coverage-assertion-id of the coverage-information on the signed order, or omit context and send the order`,
          "Parameters.parameter.where(name='context')",
        ),
      };
    }
    if (!sameMember(stored)) {
      return {
        ok: false,
        failure: packageFailure(
          422,
          'processing',
          `The coverage assertion "${request.context}" is about another member than the Coverage's beneficiary: send the Coverage of that assertion`,
          "Parameters.parameter.where(name='coverage')",
        ),
      };
    }
    if (coverageRefs.length > 0 && !coverageRefs.includes(stored.coverageRef)) {
      return {
        ok: false,
        failure: packageFailure(
          422,
          'processing',
          `The coverage assertion "${request.context}" concerns another Coverage than the one sent: send the Coverage of that assertion`,
          "Parameters.parameter.where(name='coverage')",
        ),
      };
    }
    if (orderRefs.length > 0 && !orderRefs.includes(stored.orderRef)) {
      return {
        ok: false,
        failure: packageFailure(
          422,
          'processing',
          `The coverage assertion "${request.context}" was made for another order than the one sent: send the matching order, or omit context`,
          "Parameters.parameter.where(name='order')",
        ),
      };
    }
    return { ok: true, value: { stored } };
  }
  for (const orderRef of orderRefs) {
    for (const coverageRef of coverageRefs) {
      const stored = await deps.findEvaluation({ orderRef, coverageRef });
      if (stored === 'unavailable') return { ok: false, failure: storeUnavailable() };
      if (stored && sameMember(stored)) return { ok: true, value: { stored } };
    }
  }
  return { ok: true, value: {} };
}

interface Choice {
  readonly questionnaire: fhir4.Questionnaire;
}

function chooseQuestionnaires(
  request: PackageRequest,
  stored: StoredEvaluation | undefined,
  deps: PackageDeps,
): Result<{ chosen: Choice[]; warnings: string[] }> {
  const warnings: string[] = [];
  const chosen: Choice[] = [];
  const add = (wanted: RequestedQuestionnaire, onMissing: () => void) => {
    const q = deps.questionnaires.find(wanted.url, wanted.version);
    if (!q) {
      onMissing();
      return;
    }
    if (!chosen.some((c) => c.questionnaire.url === q.url && c.questionnaire.version === q.version))
      chosen.push({ questionnaire: q });
  };
  const label = (w: RequestedQuestionnaire) => (w.version ? `${w.url}|${w.version}` : w.url);
  for (const wanted of request.questionnaires)
    add(wanted, () => warnings.push(`Questionnaire ${label(wanted)} is not known to this service`));
  if (stored?.questionnaireCanonical) {
    const wanted = parseCanonical(stored.questionnaireCanonical);
    add(wanted, () =>
      warnings.push(`The Questionnaire ${label(wanted)} of coverage assertion ${stored.id} is no longer served`),
    );
  }
  if (!stored && request.questionnaires.length === 0) {
    for (const order of request.orders) {
      for (const canonical of deps.questionnairesForOrder?.(order) ?? [])
        add(parseCanonical(canonical), () => warnings.push(`Questionnaire ${canonical} is not served`));
    }
  }
  if (chosen.length > 0) return { ok: true, value: { chosen, warnings } };
  if (request.questionnaires.length > 0) {
    return {
      ok: false,
      failure: packageFailure(
        404,
        'not-found',
        `${warnings.join('; ')}: ask for a canonical this service lists (GET /fhir/Questionnaire?url=...), or send the context from the coverage-information`,
        "Parameters.parameter.where(name='questionnaire')",
      ),
    };
  }
  if (stored) {
    return {
      ok: false,
      failure: packageFailure(
        404,
        'not-found',
        `Coverage assertion ${stored.id} asks for no documentation${warnings.length ? ` (${warnings.join('; ')})` : ''}: there is no questionnaire to complete for it`,
      ),
    };
  }
  return {
    ok: false,
    failure: packageFailure(
      404,
      'not-found',
      'No questionnaire applies: no coverage assertion is stored for this order and coverage. Sign the order first (CRD order-sign), or send the questionnaire canonical or the context from the coverage-information',
    ),
  };
}

function memberOf(request: PackageRequest, stored: StoredEvaluation | undefined): fhir4.Reference | undefined {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a client's Coverage may lack the beneficiary its type requires
  const beneficiary = request.coverages.find((c) => c.beneficiary?.reference)?.beneficiary;
  if (beneficiary?.reference) return { reference: beneficiary.reference };
  const subject = request.orders
    .map((o) => o['subject'])
    .find((s): s is Rec => isRec(s) && typeof s['reference'] === 'string');
  if (subject) return { reference: String(subject['reference']) };
  return stored?.patientRef ? { reference: stored.patientRef } : undefined;
}

function referencedValueSets(q: fhir4.Questionnaire): string[] {
  const out = new Set<string>();
  const visit = (items: readonly fhir4.QuestionnaireItem[] | undefined) => {
    for (const item of items ?? []) {
      if (item.answerValueSet && !item.answerValueSet.startsWith('#')) out.add(item.answerValueSet);
      visit(item.item);
    }
  };
  visit(q.item);
  return [...out];
}

export interface PackageBundleInput {
  readonly questionnaire: fhir4.Questionnaire;
  readonly valueSets: readonly fhir4.ValueSet[];
  readonly response: fhir4.QuestionnaireResponse;
  readonly timestamp: string;
}

/** One DTR-QPackageBundle: the Questionnaire first (dtrb-1), the response, then the ValueSets. */
export function packageBundle(input: PackageBundleInput): fhir4.Bundle {
  return {
    resourceType: 'Bundle',
    meta: { profile: [PACKAGE_BUNDLE_PROFILE] },
    type: 'collection',
    timestamp: input.timestamp,
    entry: [
      // No fullUrl for canonical resources: a canonical url need not be where the resource lives.
      { resource: input.questionnaire },
      { fullUrl: `urn:uuid:${randomUUID()}`, resource: input.response },
      ...input.valueSets.map((vs) => ({ resource: vs })),
    ],
  };
}

/** The output Parameters: one PackageBundle per bundle, then the warnings as one operationOutcome. */
export function packageOutput(bundles: readonly fhir4.Bundle[], warnings: readonly string[]): fhir4.Parameters {
  return {
    resourceType: 'Parameters',
    meta: { profile: [OUTPUT_PARAMETERS_PROFILE] },
    parameter: [
      ...bundles.map((b) => ({ name: 'PackageBundle', resource: b })),
      ...(warnings.length > 0
        ? [
            {
              name: 'operationOutcome',
              resource: {
                resourceType: 'OperationOutcome',
                issue: warnings.map((w) => ({ severity: 'warning', code: 'not-found', diagnostics: w })),
              } as fhir4.OperationOutcome,
            },
          ]
        : []),
    ],
  };
}

export interface PackageAnswer {
  readonly output: fhir4.Parameters;
  /** Which stored assertion pre-filled the package (for the audit; no PHI). */
  readonly assertionId?: string;
}

/** The whole operation on a validated request. */
export async function questionnairePackage(request: PackageRequest, deps: PackageDeps): Promise<Result<PackageAnswer>> {
  const resolved = await storedFor(request, deps);
  if (!resolved.ok) return resolved;
  const stored = resolved.value.stored;
  const choice = chooseQuestionnaires(request, stored, deps);
  if (!choice.ok) return choice;
  const subject = memberOf(request, stored);
  if (!subject) {
    return {
      ok: false,
      failure: packageFailure(
        422,
        'required',
        'The member is unknown: send a Coverage with beneficiary (a Patient reference)',
        "Parameters.parameter.where(name='coverage').resource.beneficiary",
      ),
    };
  }
  const coverageRefs = request.coverages
    .map((c) => referenceOf({ resourceType: 'Coverage', id: c.id }))
    .filter((r): r is string => !!r);
  const orderRefs = request.orders.map((o) => referenceOf(o)).filter((r): r is string => !!r);
  const coverages = (coverageRefs.length > 0 ? coverageRefs : stored ? [stored.coverageRef] : []).map((reference) => ({
    reference,
  }));
  const orders = (orderRefs.length > 0 ? orderRefs : stored ? [stored.orderRef] : []).map((reference) => ({
    reference,
  }));
  const evaluation: PackageEvaluation | undefined = stored ? evaluationFromTrace(stored.trace) : undefined;
  const storedUrl = stored?.questionnaireCanonical ? parseCanonical(stored.questionnaireCanonical).url : undefined;
  const orderPurposes = request.orders.flatMap((o) =>
    Array.isArray(o['extension']) ? o['extension'].flatMap(docPurposes) : [],
  );
  const intendedUse = [...new Set(stored ? docPurposes(stored.coverageInformation) : orderPurposes)];
  const timestamp = deps.now().toISOString();
  const warnings = [...choice.value.warnings];
  const bundles = choice.value.chosen.map(({ questionnaire }) => {
    const valueSets = referencedValueSets(questionnaire).flatMap((canonical) => {
      const vs = deps.questionnaires.valueSet?.(canonical);
      if (!vs) warnings.push(`ValueSet ${canonical} of ${versionedCanonical(questionnaire)} is not available`);
      return vs ? [vs] : [];
    });
    const response = prefilledResponse({
      questionnaire,
      evaluation: storedUrl !== undefined && sameCanonical({ url: storedUrl }, questionnaire) ? evaluation : undefined,
      subject,
      coverages,
      orders,
      intendedUse,
      indicationLinkId: deps.indicationLinkId,
      authored: timestamp,
    });
    return packageBundle({ questionnaire, valueSets, response, timestamp });
  });
  return {
    ok: true,
    value: { output: packageOutput(bundles, warnings), ...(stored ? { assertionId: stored.id } : {}) },
  };
}

export type { PackageFailure };
