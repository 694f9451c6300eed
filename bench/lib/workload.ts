/** The requests the bench sends: a covered scenario, its FHIR-fetch, out-of-scope and large-record variants. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './service.js';

export const DEFAULT_SCENARIO = 'hooks/cryoablation/scenarios/V-renal/tumor-5cm-egfr-48-covered-by-v-b.json';

type Json = Record<string, unknown>;

export interface Scenario {
  readonly file: string;
  readonly request: Json;
  /** the expected outcome of its first order, e.g. "covered" */
  readonly outcome: string;
}

export function loadScenario(file = process.env['BENCH_SCENARIO'] ?? DEFAULT_SCENARIO): Scenario {
  const fixture = JSON.parse(readFileSync(join(REPO_ROOT, file), 'utf8')) as {
    request: Json;
    expected: Record<string, { outcome: string }>;
  };
  const outcome = Object.values(fixture.expected)[0]?.outcome ?? 'unknown';
  return { file, request: fixture.request, outcome };
}

const clone = <T>(x: T): T => structuredClone(x);

interface Bundle {
  resourceType: 'Bundle';
  type?: string;
  total?: number;
  entry?: { fullUrl?: string; resource?: Json; search?: unknown }[];
}

function isBundle(x: unknown): x is Bundle {
  return typeof x === 'object' && x !== null && (x as Json)['resourceType'] === 'Bundle';
}

function prefetchOf(request: Json): Record<string, unknown> {
  return (request['prefetch'] ?? {}) as Record<string, unknown>;
}

/** Resources in the prefetch (bundle entries and single resources). */
export function prefetchResources(request: Json): Json[] {
  return Object.values(prefetchOf(request)).flatMap((v): Json[] => {
    if (isBundle(v)) return (v.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
    return typeof v === 'object' && v !== null ? [v as Json] : [];
  });
}

/** The same order with another code: nothing in scope (CPT 70551, MRI brain). */
export function outOfScope(request: Json): Json {
  const r = clone(request);
  const orders = (r['context'] as { draftOrders: Bundle }).draftOrders;
  for (const e of orders.entry ?? []) {
    if (e.resource)
      e.resource['code'] = {
        coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '70551' }],
        text: 'MRI brain without contrast',
      };
  }
  return r;
}

/** Only what every call prefetches (Patient, Coverage); the rest is fetched from `fhirServer`. */
export function fetchFromFhir(
  request: Json,
  fhirServer: string,
  keep: readonly string[] = ['patient', 'coverage'],
): Json {
  const r = clone(request);
  const prefetch = prefetchOf(r);
  r['prefetch'] = Object.fromEntries(Object.entries(prefetch).filter(([k]) => keep.includes(k)));
  r['fhirServer'] = fhirServer;
  r['fhirAuthorization'] = {
    access_token: 'bench-access-token',
    token_type: 'Bearer',
    expires_in: 300,
    scope: 'patient/*.read',
    subject: 'bench',
  };
  return r;
}

const CHRONIC = [
  ['I10', 'Essential (primary) hypertension'],
  ['E11.9', 'Type 2 diabetes mellitus without complications'],
  ['E78.5', 'Hyperlipidemia, unspecified'],
  ['J45.909', 'Unspecified asthma, uncomplicated'],
  ['M17.11', 'Unilateral primary osteoarthritis, right knee'],
  ['K21.9', 'Gastro-esophageal reflux disease without esophagitis'],
  ['F41.1', 'Generalized anxiety disorder'],
  ['G47.33', 'Obstructive sleep apnea'],
  ['E03.9', 'Hypothyroidism, unspecified'],
  ['M54.50', 'Low back pain, unspecified'],
] as const;

/** eGFR results (LOINC 33914-3, the query's own code), all older than the policy's 12-month window. */
function oldEgfr(i: number, patientRef: string): Json {
  const day = new Date(Date.UTC(2025, 0, 1) - i * 86_400_000 * 3).toISOString().slice(0, 10);
  return {
    resourceType: 'Observation',
    id: `bench-egfr-${i}`,
    meta: { lastUpdated: `${day}T08:00:00Z`, source: 'urn:bench:lab' },
    status: 'final',
    category: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/observation-category',
            code: 'laboratory',
            display: 'Laboratory',
          },
        ],
      },
    ],
    code: {
      coding: [
        {
          system: 'http://loinc.org',
          code: '33914-3',
          display: 'Glomerular filtration rate/1.73 sq M.predicted by Creatinine-based formula (MDRD)',
        },
      ],
      text: 'eGFR (MDRD)',
    },
    subject: { reference: patientRef },
    effectiveDateTime: day,
    issued: `${day}T09:30:00Z`,
    performer: [{ reference: 'Organization/bench-lab', display: 'Bench Reference Laboratory' }],
    valueQuantity: {
      value: 50 + (i % 30),
      unit: 'mL/min/1.73m2',
      system: 'http://unitsofmeasure.org',
      code: 'mL/min/{1.73_m2}',
    },
    interpretation: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
            code: 'N',
            display: 'Normal',
          },
        ],
      },
    ],
    referenceRange: [
      {
        low: { value: 60, unit: 'mL/min/1.73m2', system: 'http://unitsofmeasure.org', code: 'mL/min/{1.73_m2}' },
        text: '>= 60',
      },
    ],
    note: [{ text: 'Generated by the bench: a routine result outside every look-back window of the policy.' }],
  };
}

/** Chronic non-oncologic conditions (hypertension, diabetes...), some resolved. */
function chronicCondition(i: number, patientRef: string): Json {
  const [code, display] = CHRONIC[i % CHRONIC.length]!;
  const onset = new Date(Date.UTC(2024, 0, 1) - i * 86_400_000 * 5).toISOString().slice(0, 10);
  return {
    resourceType: 'Condition',
    id: `bench-condition-${i}`,
    meta: { lastUpdated: `${onset}T08:00:00Z`, source: 'urn:bench:ehr' },
    clinicalStatus: {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
          code: i % 3 === 0 ? 'resolved' : 'active',
        },
      ],
    },
    verificationStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }],
    },
    category: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/condition-category',
            code: 'problem-list-item',
            display: 'Problem List Item',
          },
        ],
      },
    ],
    code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code, display }], text: display },
    subject: { reference: patientRef },
    onsetDateTime: onset,
    recordedDate: onset,
    recorder: { reference: 'Practitioner/prac-1' },
    note: [{ text: 'Generated by the bench: a problem-list entry no section of the policy names.' }],
  };
}

function addEntries(bundle: unknown, resources: readonly Json[]): void {
  if (!isBundle(bundle)) return;
  bundle.entry = [
    ...(bundle.entry ?? []),
    ...resources.map((resource) => ({
      fullUrl: `http://ehr.example.org/fhir/${String(resource['resourceType'])}/${String(resource['id'])}`,
      resource,
      search: { mode: 'match' },
    })),
  ];
  bundle.total = bundle.entry.length;
}

/**
 * The scenario's record grown to `total` prefetched resources: half old eGFR results (labResults), half chronic
 * conditions (conditions). None of them may change the decision; the bench checks that it does not.
 */
export function largeRecord(request: Json, total: number): Json {
  const r = clone(request);
  const base = prefetchResources(r).length;
  const extra = Math.max(0, total - base);
  const patientRef = `Patient/${String((r['context'] as Json)['patientId'])}`;
  const prefetch = prefetchOf(r);
  const labs = Math.floor(extra / 2);
  addEntries(
    prefetch['labResults'],
    Array.from({ length: labs }, (_, i) => oldEgfr(i, patientRef)),
  );
  addEntries(
    prefetch['conditions'],
    Array.from({ length: extra - labs }, (_, i) => chronicCondition(i, patientRef)),
  );
  return r;
}

/** The smallest record (in steps of 50 resources) whose JSON is at least `bytes` long. */
export function recordOfSize(request: Json, bytes: number): { request: Json; resources: number } {
  for (let n = 50; ; n += 50) {
    const r = largeRecord(request, n);
    if (JSON.stringify(r).length >= bytes) return { request: r, resources: prefetchResources(r).length };
  }
}

/** The decisions in a service answer: coverage-information `covered` / `not-covered` / `conditional` values. */
export function coverageValues(answer: unknown): string[] {
  const text = JSON.stringify(answer);
  return [...text.matchAll(/"url":"covered","valueCode":"([a-z-]+)"/g)].map((m) => m[1] ?? '');
}
