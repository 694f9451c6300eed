import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { hookResponseSchema } from '../../src/crd/hook-response.js';
import { testApp } from '../support/app.js';
import { startFhirTestServer, type FhirTestServer } from '../support/fhir-server.js';
import { patientResources, request as fixtureRequest } from '../support/fixtures.js';

/** Request shapes captured from real CDS clients (shared/research/real-clients.md), kept under fixtures/requests/clients. */

const SERVICE = '/cds-services/cryoablation-order-sign';
let fhir: FhirTestServer;

beforeAll(async () => {
  fhir = await startFhirTestServer({ resources: patientResources('renal-rcc') });
});
afterAll(async () => fhir.close());
beforeEach(() => fhir.reset());

async function post(name: string, pointAtTestServer = true) {
  const body = fixtureRequest(`clients/${name}.json`);
  if (pointAtTestServer && body['fhirServer']) body['fhirServer'] = fhir.url;
  const res = await request(testApp().app).post(SERVICE).send(body);
  expect(res.status).toBe(200);
  expect(hookResponseSchema.safeParse(res.body).success).toBe(true);
  return res;
}

describe('requests as real clients send them are accepted', () => {
  test('CDS Hooks Sandbox (PAMA screen): untyped Bundle, intent plan, extra context key, no fhirAuthorization', async () => {
    await post('cds-hooks-sandbox-pama');
    expect(fhir.requests.map((r) => r.path.split('?')[0])).toContain('Condition');
    expect(fhir.requests.some((r) => r.path.startsWith('Patient'))).toBe(false);
    expect(fhir.requests.every((r) => r.authorization === undefined)).toBe(true);
  });

  test('CDS Hooks Sandbox (Rx Sign): a MedicationRequest with an invalid category is out of scope and costs no query', async () => {
    const res = await post('cds-hooks-sandbox-rx-sign');
    expect(res.body).toEqual({ cards: [], systemActions: [] });
    expect(fhir.requests).toEqual([]);
  });

  test('Da Vinci CRD request generator: empty access token, its own prefetch keys, unsupported configuration', async () => {
    await post('crd-request-generator');
    const types = fhir.requests.map((r) => r.path.split(/[/?]/)[0]);
    expect(types).toEqual(expect.arrayContaining(['Patient', 'Coverage', 'Condition']));
    expect(fhir.requests.every((r) => r.authorization === undefined)).toBe(true);
  });

  test('@medplum/core buildCdsRequest: no fhirServer, null for templates it could not resolve', async () => {
    await post('medplum-client');
  });

  test('Inferno CRD server suite body: an HCPCS order out of scope, an unreachable fhirServer never called', async () => {
    const res = await post('inferno-order-sign', false);
    expect(res.body).toEqual({ cards: [], systemActions: [] });
  });
});
