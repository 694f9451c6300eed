import { join } from 'node:path';
import { buildCdsRequest, MedplumClient } from 'medplum-core-5';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signerFrom, type Signer } from '../../scripts/replay/client.js';
import { daysBetween, shiftDates, todayUtc } from '../../scripts/replay/dates.js';
import { COVERAGE_INFORMATION, partsOf } from '../../scripts/replay/outcome.js';
import { loadScenario, scenarioData } from '../../scripts/replay/scenarios.js';
import { startInProcess, type RunningService } from '../../scripts/replay/service.js';
import { conformanceProblems } from '../support/crd-conformance.js';
import { startFhirTestServer, type FhirTestServer } from '../support/fhir-server.js';
import { ROOT } from '../support/scripts.js';

/**
 * A CDS client nobody here wrote: @medplum/core 5.2.13's getCdsServices, buildCdsRequest and callCdsService
 * discover the service, fill its prefetch templates from a FHIR API (the loopback Medplum FHIR server holding a
 * scenario's record) and call it. Medplum sends no client JWT of its own, so its fetch is wrapped to add one, as
 * an EHR integrating it would. Runs with --experimental-websocket on Node 20 (vitest.config.ts, project interop).
 */

type Rec = Record<string, any>;

const SCENARIO = join(ROOT, 'hooks/cryoablation/scenarios/V-renal/tumor-3cm-covered.json');
const SERVICE_ID = 'cryoablation-order-sign';
/** Far above what it takes (about 3 s), for a busy 2-core machine. */
const TIMEOUT_MS = 60_000;

let service: RunningService;
let fhir: FhirTestServer;
let signer: Signer;
let request: Rec;

/** fetch with a client JWT (aud = the exact URL) on calls to the CDS service, untouched for the FHIR server. */
function signingFetch(base: string): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(`${base}/cds-services`)) return fetch(input, init);
    const headers = new Headers(init?.headers);
    headers.set('Authorization', `Bearer ${await signer.token(url.split('?')[0]!)}`);
    return fetch(input, { ...init, headers });
  };
}

beforeAll(async () => {
  signer = await signerFrom(undefined, undefined);
  service = await startInProcess({ CDS_PREFETCH: 'full' });
  const scenario = loadScenario(SCENARIO);
  const moved = {
    ...scenario,
    request: shiftDates(scenario.request, daysBetween(scenario.evaluationDate, todayUtc())),
  };
  request = moved.request;
  fhir = await startFhirTestServer({ resources: scenarioData(moved).resources as unknown as fhir4.Resource[] });
}, TIMEOUT_MS);

afterAll(async () => {
  await fhir?.close();
  await service?.close();
});

describe('@medplum/core 5.x as the CDS client', () => {
  test(
    'discovers the service, prefetches from the FHIR API, calls it, and gets coverage-information on the order',
    async () => {
      const medplum = new MedplumClient({
        baseUrl: `${new URL(fhir.url).origin}/`,
        fhirUrlPath: 'fhir',
        cdsServicesUrl: `${service.url}/cds-services`,
        fetch: signingFetch(service.url),
      });
      const { services } = await medplum.getCdsServices();
      const cds = services.find((s) => s.id === SERVICE_ID);
      expect(cds?.hook).toBe('order-sign');

      const context = request['context'] as Rec;
      const built = await buildCdsRequest(medplum, { resourceType: 'Practitioner', id: 'prac-1' }, cds!, context);
      expect(Object.keys(built.prefetch ?? {}).sort()).toEqual(Object.keys(cds!.prefetch ?? {}).sort());
      expect(fhir.requests.map((r) => r.path.split(/[/?]/)[0])).toEqual(
        expect.arrayContaining(['Patient', 'Coverage', 'Condition', 'Observation']),
      );

      const answer = (await medplum.callCdsService(SERVICE_ID, built)) as unknown as Rec;
      expect(conformanceProblems(built as unknown as Rec, 200, answer)).toEqual([]);
      const update = (answer['systemActions'] as Rec[]).find(
        (a) => a['type'] === 'update' && a['resource']['id'] === 'sr-1',
      );
      const assertion = (update?.['resource']['extension'] as Rec[] | undefined)?.find(
        (e) => e['url'] === COVERAGE_INFORMATION,
      );
      expect(assertion, 'coverage-information on ServiceRequest/sr-1').toBeDefined();
      const parts = partsOf(assertion!);
      expect(parts.get('covered')).toBe('covered');
      expect(parts.get('pa-needed')).toBe('auth-needed');
      expect(parts.get('coverage')).toEqual({ reference: 'Coverage/cov-1' });
      expect(parts.get('date')).toBe(todayUtc());
      expect((parts.get('billingCode') as Rec)['code']).toBe('50593');
    },
    TIMEOUT_MS,
  );
});
