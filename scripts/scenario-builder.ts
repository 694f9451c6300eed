/**
 * Builds a policy's scenario fixtures (hooks/<policy>/scenarios/<file>/<name>.json) from their compact YAML
 * sources (hooks/<policy>/scenarios/<file>.yaml), with the shorthands the policy declares in
 * hooks/<policy>/scenarios/shorthands.yaml. Each fixture is a complete, replayable order-sign request whose
 * prefetch answers every data query of the service exactly as the query would (status and code filters
 * applied), plus the expected decision. `npm run scenarios` rewrites the fixtures; a test checks they are fresh.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { issueLines } from '../src/fhir/issues.js';

export const SCENARIOS_FOLDER = 'scenarios';
export const SHORTHANDS_FILE = 'shorthands.yaml';
export const DEFAULT_DATE = '2026-11-23';

/** The scenario folder of a policy folder (hooks/<policy>/scenarios). */
export const scenariosDir = (policyFolder: string): string => join(policyFolder, SCENARIOS_FOLDER);

// ------------------------------------------------------------------------------------------ declarations

const nonEmpty = z.string().trim().min(1);
/** `prefix:code`, the prefix one of the declared systems. */
const codeRef = z.string().regex(/^[A-Za-z0-9]+:\S/, 'must look like prefix:code, e.g. icd10:C64.1');

const observationShorthand = z.strictObject({
  code: codeRef,
  fixedCode: z.boolean().default(false),
  value: z.enum(['quantity', 'concept']),
  kinds: z.record(nonEmpty, codeRef).optional(),
  component: codeRef.optional(),
});
export type ObservationShorthand = z.infer<typeof observationShorthand>;

export const shorthandsSchema = z.strictObject({
  systems: z.record(z.string().regex(/^[A-Za-z0-9]+$/), z.string().min(1)),
  displays: z.record(codeRef, nonEmpty).default({}),
  unitDisplays: z.record(nonEmpty, nonEmpty).default({}),
  payor: nonEmpty,
  questionnaire: z.strictObject({ url: z.url(), version: nonEmpty }),
  orderIntent: z.strictObject({ url: z.url(), codes: z.record(nonEmpty, codeRef), otherwise: codeRef }).optional(),
  observations: z.record(z.string().regex(/^[a-z][A-Za-z0-9]*$/), observationShorthand).default({}),
  /** Extension URLs of links the sources may write: a Condition's `primary`, a BodyStructure's `condition`. */
  links: z
    .strictObject({ conditionPrimary: z.url().optional(), bodyStructureCondition: z.url().optional() })
    .default({}),
});
export type Shorthands = z.infer<typeof shorthandsSchema>;

// ------------------------------------------------------------------------------------------ sources

const date = nonEmpty;
const quantityText = z.union([nonEmpty, z.number()]);
/** One CodeableConcept: a code, or several codings of the same concept. */
const concept = z.union([codeRef, z.array(codeRef).min(1)]);
/** Record ids of the same scenario (the builder resolves each to its resource type). */
const ids = z.union([nonEmpty, z.array(nonEmpty).min(1)]);
const conditionSpec = z.strictObject({
  id: nonEmpty.optional(),
  code: codeRef,
  clinical: nonEmpty.optional(),
  verification: nonEmpty.optional(),
  onset: date.optional(),
  bodySite: concept.optional(),
  /** Condition.stage: summary (a code) and assessment (record ids). */
  stage: z.strictObject({ summary: codeRef.optional(), assessment: ids.optional() }).optional(),
  /** The primary this (secondary) Condition belongs to, by the declared link extension. */
  primary: nonEmpty.optional(),
});
type ConditionSpec = z.infer<typeof conditionSpec>;
/** A condition is its code alone, or the code with its statuses and onset. */
const conditionEntry = z.union([codeRef, conditionSpec]);
const procedureEntry = z.strictObject({
  id: nonEmpty.optional(),
  code: codeRef,
  status: nonEmpty.optional(),
  date: date.optional(),
});
/** What an Observation may be tied to: focus, hasMember and derivedFrom (record ids), bodySite. */
const observationLinks = {
  focus: ids.optional(),
  hasMember: ids.optional(),
  derivedFrom: ids.optional(),
  site: concept.optional(),
};
const observationEntry = z.strictObject({
  id: nonEmpty.optional(),
  code: codeRef,
  value: nonEmpty.optional(),
  status: nonEmpty.optional(),
  date: date.optional(),
  ...observationLinks,
});
const shorthandEntry = z.strictObject({
  id: nonEmpty.optional(),
  code: codeRef.optional(),
  value: quantityText,
  unitText: nonEmpty.optional(),
  kind: nonEmpty.optional(),
  status: nonEmpty.optional(),
  date: date.optional(),
  ...observationLinks,
});
const bodyStructureEntry = z.strictObject({
  id: nonEmpty.optional(),
  location: concept.optional(),
  qualifiers: z.array(codeRef).optional(),
  morphology: codeRef.optional(),
  /** The Condition it is related to, by the declared link extension. */
  condition: nonEmpty.optional(),
});
export type ShorthandEntry = z.infer<typeof shorthandEntry>;

/** One record entry: `condition`, `procedure`, `observation`, or an observation shorthand of the policy. */
const recordEntry = z.union([
  z.strictObject({ condition: conditionEntry }),
  z.strictObject({ procedure: procedureEntry }),
  z.strictObject({ observation: observationEntry }),
  z.strictObject({ bodyStructure: bodyStructureEntry }),
  z.record(z.string(), shorthandEntry).refine((e) => Object.keys(e).length === 1, 'a record entry names one kind'),
]);
export type RecordEntry = z.infer<typeof recordEntry>;

const orderSpec = z.strictObject({
  id: nonEmpty.optional(),
  cpt: nonEmpty.optional(),
  codes: z.array(codeRef).optional(),
  text: nonEmpty.optional(),
  intent: nonEmpty.optional(),
  requester: z.boolean().optional(),
  reasons: z.array(codeRef).nullable().optional(),
  reasonRefs: z.array(nonEmpty).optional(),
  /** ServiceRequest.bodySite: one concept per element (a code, or several codings of one concept). */
  bodySite: z.array(concept).optional(),
  /** ServiceRequest.orderDetail, coded: one concept per element. */
  orderDetail: z.array(concept).optional(),
  /** ServiceRequest.orderDetail, text only: one concept per element. */
  detail: z.array(nonEmpty).optional(),
});
export type OrderSpec = z.infer<typeof orderSpec>;

const coverageSpec = z
  .strictObject({
    none: z.boolean().optional(),
    id: nonEmpty.optional(),
    status: nonEmpty.optional(),
    payor: nonEmpty.optional(),
    end: date.optional(),
  })
  .nullable();
export type CoverageSpec = z.infer<typeof coverageSpec>;

const attestSpec = z.strictObject({
  id: nonEmpty.optional(),
  questionnaire: nonEmpty.optional(),
  status: nonEmpty.optional(),
  authored: nonEmpty.optional(),
  forOrder: z.union([z.boolean(), nonEmpty]).optional(),
  /** How forOrder links the response: basedOn (default) or the DTR qr-context extension. */
  linkBy: z.enum(['basedOn', 'qr-context']).optional(),
  /** The body site the response was given for (the body-site item, a Coding). */
  site: codeRef.optional(),
  grouped: z.boolean().optional(),
  answers: z.record(nonEmpty, z.union([z.boolean(), nonEmpty])).optional(),
  attestation: z.boolean().optional(),
});
export type AttestSpec = z.infer<typeof attestSpec>;

const outcome = z.enum([
  'covered',
  'documentation-needed',
  'not-medically-necessary',
  'investigative',
  'no-coverage',
  'out-of-scope',
]);
const expectation = z.strictObject({
  outcome,
  nodes: z.record(nonEmpty, z.enum(['met', 'not-met', 'unknown'])).optional(),
  toDocument: z.array(nonEmpty).optional(),
});
export type Expectation = z.infer<typeof expectation>;

const scenarioSpec = z.strictObject({
  name: z.string().regex(/^[a-z0-9-]+$/, 'scenario names are kebab-case'),
  description: nonEmpty,
  tags: z.array(nonEmpty).optional(),
  evaluationDate: date.optional(),
  patientId: nonEmpty.optional(),
  /** context.userId, the user signing the orders (default Practitioner/prac-1). */
  userId: nonEmpty.optional(),
  fhirServer: nonEmpty.optional(),
  order: orderSpec.optional(),
  orders: z.array(orderSpec).min(1).optional(),
  record: z.array(recordEntry).optional(),
  replaceRecord: z.boolean().optional(),
  coverage: coverageSpec.optional(),
  attest: z.union([attestSpec, z.array(attestSpec)]).optional(),
  withhold: z.array(nonEmpty).optional(),
  /** The first order's expectation, or one per order id. */
  expect: z.union([expectation, z.record(nonEmpty, expectation)]),
});
export type ScenarioSpec = z.infer<typeof scenarioSpec>;

const defaultsSpec = z.strictObject({
  patientId: nonEmpty.optional(),
  evaluationDate: date.optional(),
  order: orderSpec.optional(),
  record: z.array(recordEntry).optional(),
  coverage: coverageSpec.optional(),
});
export type DefaultsSpec = z.infer<typeof defaultsSpec>;

export const scenarioSourceSchema = z
  .strictObject({ defaults: defaultsSpec.default({}), scenarios: z.array(scenarioSpec).min(1) })
  .superRefine((source, ctx) => {
    const seen = new Set<string>();
    source.scenarios.forEach((s, i) => {
      if (seen.has(s.name))
        ctx.addIssue({ code: 'custom', path: ['scenarios', i, 'name'], message: `scenario ${s.name} twice` });
      seen.add(s.name);
    });
  });
export type ScenarioSource = z.infer<typeof scenarioSourceSchema>;

// ------------------------------------------------------------------------------------------ built fixtures

export type Json = Record<string, unknown>;

export interface ExpectedDecision {
  outcome: string;
  nodes?: Record<string, string>;
  toDocument?: string[];
}

export interface ScenarioFixture {
  description: string;
  service: string;
  evaluationDate: string;
  tags?: string[];
  expected: Record<string, ExpectedDecision>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests and scripts drill into the built request as untyped JSON
  request: Record<string, any>;
}

export interface Scenario {
  readonly file: string;
  readonly name: string;
  readonly fixture: ScenarioFixture;
}

/** What a policy folder contributes to its scenarios: the service they call, its queries, its shorthands. */
export interface ScenarioPolicy {
  readonly serviceId: string;
  /** The service's data queries, key → template. */
  readonly templates: Readonly<Record<string, string>>;
  readonly shorthands: Shorthands;
}

// ------------------------------------------------------------------------------------------ building

function issues(file: string, error: z.ZodError): Error {
  return new Error(issueLines(error, file).join('\n'));
}

function readYaml<T>(path: string, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw issues(path, parsed.error);
  return parsed.data;
}

export function loadShorthands(policyFolder: string): Shorthands {
  return readYaml(join(scenariosDir(policyFolder), SHORTHANDS_FILE), shorthandsSchema);
}

export function loadSource(path: string): ScenarioSource {
  return readYaml(path, scenarioSourceSchema);
}

interface Terms {
  coding: (short: string) => Json;
  concept: (short: string) => Json;
  quantity: (text: string | number) => Json;
}

function terms(sh: Shorthands): Terms {
  const coding = (short: string): Json => {
    const i = short.indexOf(':');
    const system = i < 0 ? undefined : sh.systems[short.slice(0, i)];
    if (!system)
      throw new Error(`code "${short}" must start with a declared system: ${Object.keys(sh.systems).join(', ')}`);
    const display = sh.displays[short];
    return { system, code: short.slice(i + 1), ...(display ? { display } : {}) };
  };
  const quantity = (text: string | number): Json => {
    const m = /^(-?[\d.]+)\s+(.+)$/.exec(String(text));
    if (!m?.[1] || !m[2]) throw new Error(`quantity "${text}" must look like "35 mm"`);
    return {
      value: Number(m[1]),
      unit: sh.unitDisplays[m[2]] ?? m[2],
      system: 'http://unitsofmeasure.org',
      code: m[2],
    };
  };
  return { coding, concept: (short) => ({ coding: [coding(short)] }), quantity };
}

const asList = <T>(v: T | readonly T[] | undefined): T[] =>
  v === undefined ? [] : Array.isArray(v) ? [...(v as T[])] : [v as T];

const conceptOf = (t: Terms, c: string | readonly string[]): Json => ({ coding: asList(c).map(t.coding) });

/** References to record ids, resolved to `Type/id` once every resource of the scenario is built. */
const REF = '__ref:';
const refs = (v: string | readonly string[] | undefined): Json[] =>
  asList(v).map((id) => ({ reference: `${REF}${id}` }));

function resolveRefs(value: unknown, types: ReadonlyMap<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveRefs(v, types));
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value as Json)) {
    if (k === 'reference' && typeof v === 'string' && v.startsWith(REF)) {
      const id = v.slice(REF.length);
      const type = types.get(id);
      if (!type) throw new Error(`reference to "${id}": no record entry has that id`);
      out[k] = `${type}/${id}`;
    } else out[k] = resolveRefs(v, types);
  }
  return out;
}

function linkExtension(
  sh: Shorthands,
  link: 'conditionPrimary' | 'bodyStructureCondition',
  id: string | undefined,
): Json {
  if (id === undefined) return {};
  const url = sh.links[link];
  if (!url) throw new Error(`a ${link} link needs links.${link} in ${SHORTHANDS_FILE}`);
  return { extension: [{ url, valueReference: { reference: `${REF}${id}` } }] };
}

type Links = {
  focus?: string | string[] | undefined;
  hasMember?: string | string[] | undefined;
  derivedFrom?: string | string[] | undefined;
  site?: string | string[] | undefined;
};

function observationLinksOf(t: Terms, e: Links): Json {
  return {
    ...(e.focus ? { focus: refs(e.focus) } : {}),
    ...(e.hasMember ? { hasMember: refs(e.hasMember) } : {}),
    ...(e.derivedFrom ? { derivedFrom: refs(e.derivedFrom) } : {}),
    ...(e.site ? { bodySite: conceptOf(t, e.site) } : {}),
  };
}

function observationValue(t: Terms, kind: 'quantity' | 'concept', e: ShorthandEntry): Json {
  if (kind === 'concept') return { valueCodeableConcept: t.concept(String(e.value)) };
  return { valueQuantity: e.unitText ? { value: Number(e.value), unit: e.unitText } : t.quantity(e.value) };
}

/** One record entry → one FHIR resource about the patient. */
function resource(sh: Shorthands, t: Terms, entry: RecordEntry, patientId: string, n: number): Json {
  const subject = { reference: `Patient/${patientId}` };
  const [kind, raw] = Object.entries(entry)[0] as [string, unknown];
  const defaultId = `${kind.toLowerCase()}-${n}`;
  const observation = (
    e: { id?: string | undefined; status?: string | undefined; date?: string | undefined },
    code: string,
    rest: Json,
  ): Json => ({
    resourceType: 'Observation',
    id: e.id ?? defaultId,
    status: e.status ?? 'final',
    code: t.concept(code),
    subject,
    ...(e.date ? { effectiveDateTime: e.date } : {}),
    ...rest,
  });
  if (kind === 'condition') {
    const parsed = conditionEntry.parse(raw);
    const c: ConditionSpec = typeof parsed === 'string' ? { code: parsed } : parsed;
    return {
      resourceType: 'Condition',
      id: c.id ?? defaultId,
      clinicalStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: c.clinical ?? 'active' }],
      },
      verificationStatus: {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: c.verification ?? 'confirmed' },
        ],
      },
      code: t.concept(c.code),
      ...(c.bodySite ? { bodySite: [conceptOf(t, c.bodySite)] } : {}),
      subject,
      ...(c.onset ? { onsetDateTime: c.onset } : {}),
      ...(c.stage
        ? {
            stage: [
              {
                ...(c.stage.summary ? { summary: t.concept(c.stage.summary) } : {}),
                ...(c.stage.assessment ? { assessment: refs(c.stage.assessment) } : {}),
              },
            ],
          }
        : {}),
      ...linkExtension(sh, 'conditionPrimary', c.primary),
    };
  }
  if (kind === 'bodyStructure') {
    const b = bodyStructureEntry.parse(raw);
    return {
      resourceType: 'BodyStructure',
      id: b.id ?? defaultId,
      ...linkExtension(sh, 'bodyStructureCondition', b.condition),
      ...(b.morphology ? { morphology: t.concept(b.morphology) } : {}),
      ...(b.location ? { location: conceptOf(t, b.location) } : {}),
      ...(b.qualifiers ? { locationQualifier: b.qualifiers.map(t.concept) } : {}),
      patient: subject,
    };
  }
  if (kind === 'procedure') {
    const p = procedureEntry.parse(raw);
    return {
      resourceType: 'Procedure',
      id: p.id ?? defaultId,
      status: p.status ?? 'completed',
      code: t.concept(p.code),
      subject,
      ...(p.date ? { performedDateTime: p.date } : {}),
    };
  }
  if (kind === 'observation') {
    const o = observationEntry.parse(raw);
    const value =
      o.value === undefined
        ? {}
        : /^[a-z0-9]+:/.test(o.value)
          ? { valueCodeableConcept: t.concept(o.value) }
          : { valueQuantity: t.quantity(o.value) };
    return observation(o, o.code, { ...observationLinksOf(t, o), ...value });
  }
  const declared = sh.observations[kind];
  if (!declared)
    throw new Error(
      `unknown record entry "${kind}" (declared: condition, procedure, observation, ${Object.keys(sh.observations).join(', ')})`,
    );
  const e = shorthandEntry.parse(raw);
  const code =
    (declared.fixedCode ? undefined : e.code) ?? (e.kind ? declared.kinds?.[e.kind] : undefined) ?? declared.code;
  const value = observationValue(t, declared.value, e);
  return observation(e, code, {
    ...observationLinksOf(t, e),
    ...(declared.component ? { component: [{ code: t.concept(declared.component), ...value }] } : value),
  });
}

function coverageResource(sh: Shorthands, spec: CoverageSpec | undefined, patientId: string): Json | undefined {
  const s = spec === undefined ? {} : spec;
  if (s === null || s.none) return undefined;
  return {
    resourceType: 'Coverage',
    id: s.id ?? 'cov-1',
    status: s.status ?? 'active',
    subscriberId: 'SYN-0001',
    beneficiary: { reference: `Patient/${patientId}` },
    payor: [{ reference: 'Organization/plan', display: s.payor ?? sh.payor }],
    ...(s.end ? { period: { start: '2024-01-01', end: s.end } } : {}),
  };
}

function answers(sh: Shorthands, items: Record<string, boolean | string>): Json[] {
  return Object.entries(items).map(([linkId, value]) => ({
    linkId,
    answer: [
      typeof value === 'boolean'
        ? { valueBoolean: value }
        : { valueCoding: { system: `${sh.questionnaire.url}/indication`, code: value } },
    ],
  }));
}

function questionnaireResponse(
  sh: Shorthands,
  t: Terms,
  spec: AttestSpec,
  patientId: string,
  n: number,
  orderRef: string,
): Json {
  const target = spec.forOrder ? { reference: spec.forOrder === true ? orderRef : spec.forOrder } : undefined;
  const link =
    target && spec.linkBy === 'qr-context'
      ? {
          extension: [
            { url: 'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/qr-context', valueReference: target },
          ],
        }
      : target
        ? { basedOn: [target] }
        : {};
  const site = spec.site ? [{ linkId: 'body-site', answer: [{ valueCoding: t.coding(spec.site) }] }] : [];
  return {
    resourceType: 'QuestionnaireResponse',
    id: spec.id ?? `qr-${n}`,
    questionnaire: spec.questionnaire ?? `${sh.questionnaire.url}|${sh.questionnaire.version}`,
    status: spec.status ?? 'completed',
    subject: { reference: `Patient/${patientId}` },
    authored: spec.authored ?? '2026-11-20T10:00:00Z',
    ...link,
    item: spec.grouped
      ? [{ linkId: 'group', item: [...site, ...answers(sh, spec.answers ?? {})] }]
      : [...site, ...answers(sh, { ...(spec.answers ?? {}), attestation: spec.attestation ?? true })],
  };
}

function order(sh: Shorthands, t: Terms, spec: OrderSpec, patientId: string, index: number): Json {
  const id = spec.id ?? `sr-${index + 1}`;
  const codes = [...(spec.cpt ? [`cpt:${spec.cpt}`] : []), ...(spec.codes ?? [])];
  const intent = spec.intent && sh.orderIntent;
  if (spec.intent && !intent) throw new Error(`order ${id}: intent needs orderIntent in ${SHORTHANDS_FILE}`);
  return {
    resourceType: 'ServiceRequest',
    id,
    status: 'draft',
    intent: 'order',
    ...(intent && spec.intent
      ? {
          extension: [
            { url: intent.url, valueCodeableConcept: t.concept(intent.codes[spec.intent] ?? intent.otherwise) },
          ],
        }
      : {}),
    code: { coding: codes.map(t.coding), ...(spec.text ? { text: spec.text } : {}) },
    subject: { reference: `Patient/${patientId}` },
    authoredOn: '2026-11-20',
    ...(spec.requester === false ? {} : { requester: { reference: 'Practitioner/prac-1' } }),
    ...(spec.reasons ? { reasonCode: spec.reasons.map(t.concept) } : {}),
    ...(spec.reasonRefs ? { reasonReference: spec.reasonRefs.map((r) => ({ reference: `Condition/${r}` })) } : {}),
    ...(spec.orderDetail || spec.detail
      ? {
          orderDetail: [
            ...(spec.orderDetail ?? []).map((c) => conceptOf(t, c)),
            ...(spec.detail ?? []).map((text) => ({ text })),
          ],
        }
      : {}),
    ...(spec.bodySite ? { bodySite: spec.bodySite.map((c) => conceptOf(t, c)) } : {}),
    insurance: [{ reference: 'Coverage/cov-1' }],
  };
}

function searchset(resources: readonly Json[]): Json {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    entry: resources.map((r) => ({
      fullUrl: `http://ehr.example.org/fhir/${String(r['resourceType'])}/${String(r['id'])}`,
      resource: r,
      search: { mode: 'match' },
    })),
  };
}

/** The codes a template's `code=` parameter asks for, as system|code strings. */
function codeFilter(template: string): Set<string> | undefined {
  const m = /[?&]code=([^&]*)/.exec(template);
  return m?.[1] ? new Set(m[1].split(',')) : undefined;
}

function answersQuery(template: string, r: Json): boolean {
  const type = template.split(/[/?]/)[0];
  if (r['resourceType'] !== type) return false;
  const codes = codeFilter(template);
  const codings = (r['code'] as { coding?: Json[] } | undefined)?.coding ?? [];
  if (codes && !codings.some((c) => codes.has(`${String(c['system'])}|${String(c['code'])}`))) return false;
  const status = /[?&]status=([^&]*)/.exec(template)?.[1];
  return !status || status.split(',').includes(String(r['status']));
}

function isExpectation(e: ScenarioSpec['expect']): e is Expectation {
  return typeof (e as { outcome?: unknown }).outcome === 'string';
}

function expectationFor(s: ScenarioSpec, orderId: string, index: number): Expectation | undefined {
  if (isExpectation(s.expect)) return index === 0 ? s.expect : undefined;
  return s.expect[orderId];
}

export function buildScenario(policy: ScenarioPolicy, file: string, defaults: DefaultsSpec, s: ScenarioSpec): Scenario {
  const sh = policy.shorthands;
  const t = terms(sh);
  const patientId = s.patientId ?? defaults.patientId ?? `pat-${file}`;
  const orders = (s.orders ?? [s.order ?? defaults.order ?? {}]).map((o) => ({ ...(defaults.order ?? {}), ...o }));
  const builtOrders = orders.map((o, i) => order(sh, t, o, patientId, i));
  const record = [...(s.replaceRecord ? [] : (defaults.record ?? [])), ...(s.record ?? [])];
  const built = record.map((e, i) => resource(sh, t, e, patientId, i + 1));
  const types = new Map(built.map((r) => [String(r['id']), String(r['resourceType'])]));
  const resources = built.map((r) => resolveRefs(r, types) as Json);
  const coverage = coverageResource(sh, s.coverage !== undefined ? s.coverage : defaults.coverage, patientId);
  const attestations = s.attest === undefined ? [] : Array.isArray(s.attest) ? s.attest : [s.attest];
  const responses = attestations.map((a, i) =>
    questionnaireResponse(sh, t, a, patientId, i + 1, `ServiceRequest/${String(builtOrders[0]?.['id'])}`),
  );
  const patient = { resourceType: 'Patient', id: patientId, gender: 'unknown', birthDate: '1960-01-01' };
  const all: Json[] = [...(coverage ? [coverage] : []), ...resources, ...responses];
  const prefetch: Json = {};
  for (const [key, template] of Object.entries(policy.templates)) {
    if ((s.withhold ?? []).includes(key)) continue;
    prefetch[key] = template.startsWith('Patient/') ? patient : searchset(all.filter((r) => answersQuery(template, r)));
  }
  const expected: Record<string, ExpectedDecision> = {};
  builtOrders.forEach((o, i) => {
    const id = String(o['id']);
    const e = expectationFor(s, id, i);
    if (!e) throw new Error(`${file}/${s.name}: expect an outcome for ${id}`);
    expected[`ServiceRequest/${id}`] = {
      outcome: e.outcome,
      ...(e.nodes ? { nodes: e.nodes } : {}),
      ...(e.toDocument ? { toDocument: e.toDocument } : {}),
    };
  });
  const request = {
    hook: 'order-sign',
    hookInstance: `00000000-0000-4000-8000-${String(Math.abs(hash(`${file}/${s.name}`)))
      .padStart(12, '0')
      .slice(0, 12)}`,
    ...(s.fhirServer ? { fhirServer: s.fhirServer } : {}),
    context: {
      userId: s.userId ?? 'Practitioner/prac-1',
      patientId,
      draftOrders: { resourceType: 'Bundle', type: 'collection', entry: builtOrders.map((r) => ({ resource: r })) },
    },
    prefetch,
  };
  return {
    file,
    name: s.name,
    fixture: {
      description: s.description,
      service: policy.serviceId,
      evaluationDate: s.evaluationDate ?? defaults.evaluationDate ?? DEFAULT_DATE,
      ...(s.tags ? { tags: s.tags } : {}),
      expected,
      request,
    },
  };
}

function hash(text: string): number {
  let h = 0;
  for (const ch of text) h = (Math.imul(31, h) + ch.charCodeAt(0)) | 0;
  return h;
}

/** The scenario source files of a policy folder (every scenarios/*.yaml but the shorthands), sorted. */
export function sourceFiles(policyFolder: string): string[] {
  const dir = scenariosDir(policyFolder);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && f !== SHORTHANDS_FILE)
    .sort()
    .map((f) => join(dir, f));
}

/** Builds every scenario of one source file. */
export function buildSource(policy: ScenarioPolicy, file: string, source: ScenarioSource): Scenario[] {
  return source.scenarios.map((s) => buildScenario(policy, file, source.defaults, s));
}

/** Builds every scenario of a policy folder from its sources and shorthands. */
export function buildPolicyScenarios(
  policyFolder: string,
  serviceId: string,
  templates: Readonly<Record<string, string>>,
): Scenario[] {
  const policy: ScenarioPolicy = { serviceId, templates, shorthands: loadShorthands(policyFolder) };
  return sourceFiles(policyFolder).flatMap((path) => buildSource(policy, sourceName(path), loadSource(path)));
}

/** The section name of a source file: its file name without .yaml. */
export function sourceName(path: string): string {
  return (path.split('/').pop() ?? path).replace(/\.yaml$/, '');
}
