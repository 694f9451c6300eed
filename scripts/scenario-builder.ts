/**
 * Builds scenario fixtures (fixtures/scenarios/<file>/<name>.json) from their compact YAML source
 * (fixtures/scenarios/source/<file>.yaml). Each fixture is a complete, replayable order-sign request whose
 * prefetch answers every data query of the service exactly as the query would (status and code filters
 * applied), plus the expected decision. `npm run scenarios` rewrites the fixtures; a test checks they are fresh.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const SCENARIO_DIR = new URL('../fixtures/scenarios/', import.meta.url).pathname;
export const SOURCE_DIR = join(SCENARIO_DIR, 'source');
export const SERVICE_ID = 'cryoablation-order-sign';
export const DEFAULT_DATE = '2026-11-23';
export const QUESTIONNAIRE = 'http://localhost:3000/fhir/Questionnaire/cryoablation-medical-necessity';
const MCODE_INTENT = 'http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-procedure-intent';

const SYSTEMS: Record<string, string> = {
  icd10: 'http://hl7.org/fhir/sid/icd-10-cm',
  sct: 'http://snomed.info/sct',
  loinc: 'http://loinc.org',
  cpt: 'http://www.ama-assn.org/go/cpt',
  ajcc: 'http://cancerstaging.org',
  hcpcs: 'https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
  icd10oid: 'urn:oid:2.16.840.1.113883.6.90',
};

type Rec = Record<string, any>;

export interface Scenario {
  readonly file: string;
  readonly name: string;
  readonly fixture: Rec;
}

/** Displays for the codes EHRs always label; other codings go without a display, as they often do. */
const DISPLAYS: Record<string, string> = {
  'loinc:2857-1': 'PSA',
  'loinc:35741-8': 'PSA (ultrasensitive)',
  'loinc:83112-3': 'PSA',
  'loinc:98979-8': 'eGFR (CKD-EPI 2021)',
  'loinc:33914-3': 'eGFR (MDRD)',
  'loinc:21889-1': 'Tumor size',
  'loinc:33728-7': 'Longest dimension',
  'loinc:97509-4': 'Cancer disease status',
};

function coding(short: string): Rec {
  const i = short.indexOf(':');
  const system = SYSTEMS[short.slice(0, i)];
  if (i < 0 || !system) throw new Error(`code "${short}" must look like icd10:C64.1, sct:..., loinc:..., cpt:..., ajcc:...`);
  const display = DISPLAYS[short];
  return { system, code: short.slice(i + 1), ...(display ? { display } : {}) };
}
const concept = (short: string): Rec => ({ coding: [coding(short)] });

function quantity(text: string): Rec {
  const m = /^(-?[\d.]+)\s+(.+)$/.exec(String(text));
  if (!m) throw new Error(`quantity "${text}" must look like "35 mm"`);
  const unit = m[2] === 'mL/min/{1.73_m2}' ? 'mL/min/1.73m2' : m[2];
  return { value: Number(m[1]), unit, system: 'http://unitsofmeasure.org', code: m[2] };
}

const OBSERVATION_CODES: Record<string, string> = {
  T: 'sct:399504009',
  N: 'sct:399534004',
  M: 'sct:399387003',
  group: 'sct:399537006',
};

/** One shorthand record entry → one FHIR resource about the patient. */
function resource(entry: Rec, patientId: string, n: number): Rec {
  const subject = { reference: `Patient/${patientId}` };
  const [kind, spec] = Object.entries(entry)[0] as [string, any];
  const s: Rec = typeof spec === 'string' ? { code: spec } : { ...spec };
  const id = s.id ?? `${kind.toLowerCase()}-${n}`;
  const observation = (code: string, extra: Rec): Rec => ({
    resourceType: 'Observation',
    id,
    status: s.status ?? 'final',
    code: concept(code),
    subject,
    ...(s.date ? { effectiveDateTime: s.date } : {}),
    ...extra,
  });
  const valueOf = (v: string): Rec => (/^[a-z0-9]+:/.test(v) ? { valueCodeableConcept: concept(v) } : { valueQuantity: quantity(v) });
  switch (kind) {
    case 'condition':
      return {
        resourceType: 'Condition',
        id,
        clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: s.clinical ?? 'active' }] },
        verificationStatus: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: s.verification ?? 'confirmed' }],
        },
        code: concept(s.code),
        subject,
        ...(s.onset ? { onsetDateTime: s.onset } : {}),
      };
    case 'observation':
      return observation(s.code, valueOf(s.value));
    case 'psa':
      return observation(s.code ?? 'loinc:2857-1', { valueQuantity: quantity(s.value) });
    case 'egfr':
      return observation(s.code ?? 'loinc:98979-8', { valueQuantity: s.unitText ? { value: Number(s.value), unit: s.unitText } : quantity(s.value) });
    case 'tumorSize':
      return observation('loinc:21889-1', {
        ...(s.site ? { bodySite: concept(s.site) } : {}),
        component: [{ code: concept('loinc:33728-7'), valueQuantity: quantity(s.value) }],
      });
    case 'stage':
      return observation(s.code ?? OBSERVATION_CODES[s.kind] ?? 'sct:399504009', { valueCodeableConcept: concept(s.value) });
    case 'diseaseStatus':
      return observation('loinc:97509-4', { valueCodeableConcept: concept(s.value) });
    case 'procedure':
      return {
        resourceType: 'Procedure',
        id,
        status: s.status ?? 'completed',
        code: concept(s.code),
        subject,
        ...(s.date ? { performedDateTime: s.date } : {}),
      };
    default:
      throw new Error(`unknown record entry "${kind}"`);
  }
}

function coverageResource(spec: Rec | undefined, patientId: string): Rec | undefined {
  if (spec === undefined) spec = {};
  if (spec === null || spec['none']) return undefined;
  return {
    resourceType: 'Coverage',
    id: spec['id'] ?? 'cov-1',
    status: spec['status'] ?? 'active',
    subscriberId: 'SYN-0001',
    beneficiary: { reference: `Patient/${patientId}` },
    payor: [{ reference: 'Organization/plan', display: spec['payor'] ?? 'Aspirus Health Plan' }],
    ...(spec['end'] ? { period: { start: '2024-01-01', end: spec['end'] } } : {}),
  };
}

function answers(items: Rec): Rec[] {
  return Object.entries(items).map(([linkId, value]) => ({
    linkId,
    answer: [typeof value === 'boolean' ? { valueBoolean: value } : { valueCoding: { system: `${QUESTIONNAIRE}/indication`, code: String(value) } }],
  }));
}

function questionnaireResponse(spec: Rec, patientId: string, n: number, orderRef: string): Rec {
  return {
    resourceType: 'QuestionnaireResponse',
    id: spec['id'] ?? `qr-${n}`,
    questionnaire: spec['questionnaire'] ?? `${QUESTIONNAIRE}|1.0.0`,
    status: spec['status'] ?? 'completed',
    subject: { reference: `Patient/${patientId}` },
    authored: spec['authored'] ?? '2026-11-20T10:00:00Z',
    ...(spec['forOrder'] ? { basedOn: [{ reference: spec['forOrder'] === true ? orderRef : spec['forOrder'] }] } : {}),
    item: spec['grouped']
      ? [{ linkId: 'group', item: answers(spec['answers'] ?? {}) }]
      : answers({ ...(spec['answers'] ?? {}), ...(spec['attestation'] === undefined ? { attestation: true } : { attestation: spec['attestation'] }) }),
  };
}

function order(spec: Rec, patientId: string, index: number): Rec {
  const id = spec['id'] ?? `sr-${index + 1}`;
  const codes: string[] = [spec['cpt'] ? `cpt:${spec['cpt']}` : undefined, ...(spec['codes'] ?? [])].filter(Boolean);
  return {
    resourceType: 'ServiceRequest',
    id,
    status: 'draft',
    intent: 'order',
    ...(spec['intent'] ? { extension: [{ url: MCODE_INTENT, valueCodeableConcept: concept(spec['intent'] === 'palliative' ? 'sct:363676003' : 'sct:373808002') }] } : {}),
    code: { coding: codes.map(coding), ...(spec['text'] ? { text: spec['text'] } : {}) },
    subject: { reference: `Patient/${patientId}` },
    authoredOn: '2026-11-20',
    ...(spec['requester'] === false ? {} : { requester: { reference: 'Practitioner/prac-1' } }),
    ...(spec['reasons'] ? { reasonCode: (spec['reasons'] as string[]).map(concept) } : {}),
    ...(spec['reasonRefs'] ? { reasonReference: (spec['reasonRefs'] as string[]).map((r) => ({ reference: `Condition/${r}` })) } : {}),
    insurance: [{ reference: 'Coverage/cov-1' }],
  };
}

function searchset(resources: Rec[]): Rec {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    entry: resources.map((r) => ({ fullUrl: `http://ehr.example.org/fhir/${r['resourceType']}/${r['id']}`, resource: r, search: { mode: 'match' } })),
  };
}

/** The codes a template's `code=` parameter asks for, as system|code strings. */
function codeFilter(template: string): Set<string> | undefined {
  const m = /[?&]code=([^&]*)/.exec(template);
  return m?.[1] ? new Set(m[1].split(',')) : undefined;
}

function answersQuery(template: string, r: Rec): boolean {
  const type = template.split(/[/?]/)[0];
  if (r['resourceType'] !== type) return false;
  const codes = codeFilter(template);
  if (codes && !(r['code']?.coding ?? []).some((c: Rec) => codes.has(`${c['system']}|${c['code']}`))) return false;
  const status = /[?&]status=([^&]*)/.exec(template)?.[1];
  return !status || status.split(',').includes(r['status']);
}

export function buildScenario(file: string, defaults: Rec, s: Rec, templates: Record<string, string>): Scenario {
  const patientId = s['patientId'] ?? defaults['patientId'] ?? `pat-${file}`;
  const orders: Rec[] = (s['orders'] ?? [s['order'] ?? defaults['order'] ?? {}]).map((o: Rec) => ({ ...(defaults['order'] ?? {}), ...o }));
  const builtOrders = orders.map((o, i) => order(o, patientId, i));
  const record: Rec[] = [...(s['replaceRecord'] ? [] : (defaults['record'] ?? [])), ...(s['record'] ?? [])];
  const resources = record.map((e, i) => resource(e, patientId, i + 1));
  const coverage = coverageResource(s['coverage'] !== undefined ? s['coverage'] : defaults['coverage'], patientId);
  const responses = (s['attest'] ? [].concat(s['attest']) : []).map((a: Rec, i: number) =>
    questionnaireResponse(a, patientId, i + 1, `ServiceRequest/${builtOrders[0]?.['id']}`),
  );
  const patient = { resourceType: 'Patient', id: patientId, gender: 'unknown', birthDate: '1960-01-01' };
  const all: Rec[] = [...(coverage ? [coverage] : []), ...resources, ...responses];
  const prefetch: Rec = {};
  for (const [key, template] of Object.entries(templates)) {
    if ((s['withhold'] ?? []).includes(key)) continue;
    prefetch[key] = template.startsWith('Patient/') ? patient : searchset(all.filter((r) => answersQuery(template, r)));
  }
  const expected: Rec = {};
  const expectations: Rec = s['expect'] ?? {};
  builtOrders.forEach((o, i) => {
    const e = expectations[o['id']] ?? (i === 0 ? expectations : undefined);
    if (!e?.outcome) throw new Error(`${file}/${s['name']}: expect an outcome for ${o['id']}`);
    expected[`ServiceRequest/${o['id']}`] = { outcome: e.outcome, ...(e.nodes ? { nodes: e.nodes } : {}), ...(e.toDocument ? { toDocument: e.toDocument } : {}) };
  });
  const request: Rec = {
    hook: 'order-sign',
    hookInstance: `00000000-0000-4000-8000-${String(Math.abs(hash(`${file}/${s['name']}`))).padStart(12, '0').slice(0, 12)}`,
    ...(s['fhirServer'] ? { fhirServer: s['fhirServer'] } : {}),
    context: {
      userId: 'Practitioner/prac-1',
      patientId,
      draftOrders: { resourceType: 'Bundle', type: 'collection', entry: builtOrders.map((resource) => ({ resource })) },
    },
    prefetch,
  };
  return {
    file,
    name: s['name'],
    fixture: {
      description: s['description'],
      service: SERVICE_ID,
      evaluationDate: s['evaluationDate'] ?? defaults['evaluationDate'] ?? DEFAULT_DATE,
      ...(s['tags'] ? { tags: s['tags'] } : {}),
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

export function buildAll(templates: Record<string, string>): Scenario[] {
  return readdirSync(SOURCE_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => {
      const file = f.replace(/\.yaml$/, '');
      const source = parse(readFileSync(join(SOURCE_DIR, f), 'utf8')) as Rec;
      const names = new Set<string>();
      return (source['scenarios'] as Rec[]).map((s) => {
        if (!/^[a-z0-9-]+$/.test(s['name'] ?? '')) throw new Error(`${f}: scenario name "${s['name']}" must be kebab-case`);
        if (names.has(s['name'])) throw new Error(`${f}: scenario ${s['name']} twice`);
        names.add(s['name']);
        return buildScenario(file, source['defaults'] ?? {}, s, templates);
      });
    });
}
