import { z } from 'zod';

/**
 * The `$questionnaire-package` input Parameters (DTR 2.0.1 / 2.1 `dtr-qpackage-input-parameters`):
 * `coverage` 1..* (resource Coverage), `order` 0..* (resource: a request, Encounter or Appointment),
 * `questionnaire` 0..* (valueCanonical, optionally `|version`), `context` 0..1 (valueString, the CRD
 * coverage-assertion-id), `changedsince` 0..1 (valueInstant; 2.1's OperationDefinition says dateTime), and 2.1's
 * `referenced` 0..* (resources, accepted and not used). dtr-1: at least one of order, questionnaire, context.
 * Each parameter has exactly one of value[x], resource, part (inv-1). Other names are allowed (open slicing).
 */

export const ORDER_TYPES = [
  'ServiceRequest',
  'DeviceRequest',
  'MedicationRequest',
  'NutritionOrder',
  'CommunicationRequest',
  'SupplyRequest',
  'VisionPrescription',
  'Encounter',
  'Appointment',
] as const;

export type OrderResource = Record<string, unknown> & { resourceType: (typeof ORDER_TYPES)[number]; id?: string };

export interface RequestedQuestionnaire {
  readonly url: string;
  readonly version?: string;
}

export interface PackageRequest {
  readonly coverages: readonly fhir4.Coverage[];
  readonly orders: readonly OrderResource[];
  readonly questionnaires: readonly RequestedQuestionnaire[];
  readonly context?: string;
  readonly changedSince?: string;
}

/** An OperationOutcome-shaped failure, as the app's failure sender takes it. */
export interface PackageFailure {
  readonly status: 400 | 401 | 403 | 404 | 422 | 503;
  readonly outcome: fhir4.OperationOutcome;
  readonly headers?: Readonly<Record<string, string>>;
}

export type Result<T> = { ok: true; value: T } | { ok: false; failure: PackageFailure };

export function packageFailure(
  status: PackageFailure['status'],
  code: fhir4.OperationOutcomeIssue['code'],
  diagnostics: string,
  expression?: string,
): PackageFailure {
  return {
    status,
    outcome: {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code, diagnostics, ...(expression ? { expression: [expression] } : {}) }],
    },
  };
}

const resource = z.looseObject({ resourceType: z.string().min(1) });
const parameter = z.looseObject({
  name: z.string().min(1),
  resource: resource.optional(),
  part: z.array(z.unknown()).optional(),
});
const parameters = z.looseObject({ resourceType: z.literal('Parameters'), parameter: z.array(parameter).min(1) });

type Param = z.infer<typeof parameter>;

const VALUE_KEY = /^value[A-Z]/;
const valueKeys = (p: Param) => Object.keys(p).filter((k) => VALUE_KEY.test(k));

const CANONICAL = /^\S+$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export function parseCanonical(canonical: string): RequestedQuestionnaire {
  const bar = canonical.indexOf('|');
  if (bar < 0) return { url: canonical };
  const version = canonical.slice(bar + 1);
  return { url: canonical.slice(0, bar), ...(version ? { version } : {}) };
}

const fail = (diagnostics: string, expression?: string, status: PackageFailure['status'] = 400) =>
  ({
    ok: false,
    failure: packageFailure(status, status === 400 ? 'invalid' : 'processing', diagnostics, expression),
  }) as const;

/** Validates the request body; every refusal says what to send instead. */
export function parsePackageInput(body: unknown): Result<PackageRequest> {
  if (typeof body !== 'object' || body === null || (body as { resourceType?: unknown }).resourceType !== 'Parameters') {
    return fail(
      'The body must be a FHIR Parameters resource (Content-Type application/fhir+json) with the DTR inputs coverage, and questionnaire, context or order',
    );
  }
  const parsed = parameters.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue ? `Parameters.${issue.path.join('.')}` : 'Parameters';
    return fail(
      `Malformed Parameters at ${at}: ${issue?.message ?? 'invalid'}; each parameter needs a name and one value[x], resource or part`,
      at,
    );
  }
  const params = parsed.data.parameter;
  for (const [i, p] of params.entries()) {
    const count = valueKeys(p).length + (p.resource ? 1 : 0) + (p.part ? 1 : 0);
    if (count !== 1)
      return fail(
        `Parameter "${p.name}" must have exactly one of value[x], resource or part (inv-1)`,
        `Parameters.parameter[${i}]`,
      );
  }
  const named = (name: string) => params.map((p, i) => ({ p, i })).filter(({ p }) => p.name === name);

  const coverageParams = named('coverage');
  if (coverageParams.length === 0)
    return fail(
      'Add at least one parameter "coverage" whose resource is the member\'s Coverage',
      'Parameters.parameter',
    );
  const coverages: fhir4.Coverage[] = [];
  for (const { p, i } of coverageParams) {
    if (p.resource?.resourceType !== 'Coverage')
      return fail(
        'Parameter "coverage" must carry a Coverage resource in "resource"',
        `Parameters.parameter[${i}].resource`,
      );
    coverages.push(p.resource as unknown as fhir4.Coverage);
  }

  const orders: OrderResource[] = [];
  for (const { p, i } of named('order')) {
    const type = p.resource?.resourceType;
    if (!type || !(ORDER_TYPES as readonly string[]).includes(type)) {
      return fail(
        `Parameter "order" must carry the draft order as a resource, one of ${ORDER_TYPES.join(', ')}`,
        `Parameters.parameter[${i}].resource`,
      );
    }
    orders.push(p.resource as OrderResource);
  }

  const questionnaires: RequestedQuestionnaire[] = [];
  for (const { p, i } of named('questionnaire')) {
    const value = p['valueCanonical'];
    if (typeof value !== 'string' || !CANONICAL.test(value)) {
      return fail(
        'Parameter "questionnaire" must be a valueCanonical: the Questionnaire url, optionally followed by |version',
        `Parameters.parameter[${i}]`,
      );
    }
    questionnaires.push(parseCanonical(value));
  }

  const contexts = named('context');
  if (contexts.length > 1)
    return fail(
      'Send at most one parameter "context" (the coverage-assertion-id from CRD)',
      `Parameters.parameter[${contexts[1]!.i}]`,
    );
  let context: string | undefined;
  if (contexts[0]) {
    const value = contexts[0].p['valueString'];
    if (typeof value !== 'string' || value.trim() === '')
      return fail(
        'Parameter "context" must be a valueString: the coverage-assertion-id from the CRD coverage-information',
        `Parameters.parameter[${contexts[0].i}]`,
      );
    context = value.trim();
  }

  const since = named('changedsince');
  if (since.length > 1)
    return fail('Send at most one parameter "changedsince"', `Parameters.parameter[${since[1]!.i}]`);
  let changedSince: string | undefined;
  if (since[0]) {
    const value = since[0].p['valueInstant'] ?? since[0].p['valueDateTime'];
    if (typeof value !== 'string' || !INSTANT.test(value))
      return fail(
        'Parameter "changedsince" must be a valueInstant with a time zone, e.g. 2026-12-01T15:00:00Z',
        `Parameters.parameter[${since[0].i}]`,
      );
    changedSince = value;
  }

  if (orders.length === 0 && questionnaires.length === 0 && context === undefined) {
    return fail(
      'Add at least one of "questionnaire" (canonical), "context" (the coverage-assertion-id) or "order" (the draft order) (dtr-1)',
      'Parameters',
    );
  }
  return {
    ok: true,
    value: {
      coverages,
      orders,
      questionnaires,
      ...(context !== undefined ? { context } : {}),
      ...(changedSince ? { changedSince } : {}),
    },
  };
}
