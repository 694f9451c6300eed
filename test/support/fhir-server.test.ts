import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFhirTestServer } from './fhir-server.js';
import type { FhirTestServer } from './fhir-server.js';

const LOINC = 'http://loinc.org';

function patient(id: string): fhir4.Patient {
  return { resourceType: 'Patient', id };
}

function condition(id: string, patientId: string): fhir4.Condition {
  return { resourceType: 'Condition', id, subject: { reference: `Patient/${patientId}` } };
}

function observation(id: string, patientId: string, code: string, system = LOINC): fhir4.Observation {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system, code }] },
    subject: { reference: `Patient/${patientId}` },
  };
}

function coverage(id: string, patientId: string, status: fhir4.Coverage['status']): fhir4.Coverage {
  return {
    resourceType: 'Coverage',
    id,
    status,
    beneficiary: { reference: `Patient/${patientId}` },
    payor: [{ reference: 'Organization/payer-1' }],
  };
}

const resources: fhir4.Resource[] = [
  patient('pat-1'),
  patient('pat-2'),
  condition('cond-1', 'pat-1'),
  condition('cond-2', 'pat-1'),
  condition('cond-3', 'pat-2'),
  observation('obs-1', 'pat-1', '2857-1'),
  observation('obs-2', 'pat-1', '33914-3'),
  observation('obs-3', 'pat-1', '4548-4'),
  observation('obs-4', 'pat-1', '2857-1', 'http://example.org/local'),
  observation('obs-5', 'pat-2', '2857-1'),
  coverage('cov-1', 'pat-1', 'active'),
  coverage('cov-2', 'pat-1', 'cancelled'),
  coverage('cov-3', 'pat-2', 'active'),
];

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- each call names the resource type it expects back
async function getJson<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as T };
}

async function searchIds(server: FhirTestServer, path: string): Promise<string[]> {
  const { status, body } = await getJson<fhir4.Bundle>(`${server.url}/${path}`);
  expect(status).toBe(200);
  return (body.entry ?? []).map((e) => e.resource?.id ?? '').sort();
}

function nextLink(bundle: fhir4.Bundle): string | undefined {
  return bundle.link?.find((l) => l.relation === 'next')?.url;
}

describe('FHIR test server', () => {
  let server: FhirTestServer;

  beforeAll(async () => {
    server = await startFhirTestServer({ resources });
  });
  afterAll(() => server.close());
  beforeEach(() => server.reset());

  it('reads a resource by id', async () => {
    const { status, body } = await getJson<fhir4.Patient>(`${server.url}/Patient/pat-1`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ resourceType: 'Patient', id: 'pat-1' });
  });

  it('answers 404 with an OperationOutcome for an unknown id', async () => {
    const { status, body } = await getJson<fhir4.OperationOutcome>(`${server.url}/Patient/nope`);
    expect(status).toBe(404);
    expect(body.resourceType).toBe('OperationOutcome');
  });

  it('finds Conditions by bare patient id, only for that patient', async () => {
    expect(await searchIds(server, 'Condition?patient=pat-1')).toEqual(['cond-1', 'cond-2']);
    expect(await searchIds(server, 'Condition?subject=pat-2')).toEqual(['cond-3']);
    expect(await searchIds(server, 'Condition?patient=Patient/pat-2')).toEqual(['cond-3']);
  });

  it('filters Observations by a system|code list', async () => {
    const ids = await searchIds(server, `Observation?patient=pat-1&code=${LOINC}|2857-1,${LOINC}|33914-3`);
    expect(ids).toEqual(['obs-1', 'obs-2']);
  });

  it('filters Coverage by status', async () => {
    expect(await searchIds(server, 'Coverage?patient=pat-1&status=active')).toEqual(['cov-1']);
  });

  it('supports POST _search with a form body', async () => {
    const { body } = await getJson<fhir4.Bundle>(`${server.url}/Condition/_search`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'patient=pat-1',
    });
    expect(body.entry?.map((e) => e.resource?.id).sort()).toEqual(['cond-1', 'cond-2']);
  });

  it('sets total, self link and fullUrl on search results', async () => {
    const { body } = await getJson<fhir4.Bundle>(`${server.url}/Condition?patient=pat-1`);
    expect(body.total).toBe(2);
    expect(body.link?.find((l) => l.relation === 'self')?.url).toMatch(new RegExp(`^${server.url}/Condition\\?`));
    expect(nextLink(body)).toBeUndefined();
    expect(body.entry?.[0]?.fullUrl).toMatch(new RegExp(`^${server.url}/Condition/cond-`));
  });

  it('serves a CapabilityStatement at /metadata', async () => {
    const { status, body } = await getJson<fhir4.CapabilityStatement>(`${server.url}/metadata`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1' });
  });

  it('answers CORS preflight and sets CORS headers', async () => {
    const preflight = await fetch(`${server.url}/Patient/pat-1`, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    const res = await fetch(`${server.url}/Patient/pat-1`);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('records path, Authorization header and status of each request', async () => {
    await fetch(`${server.url}/Condition?patient=pat-1`, { headers: { Authorization: 'Bearer token-1' } });
    await fetch(`${server.url}/Patient/pat-2`);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[0]).toMatchObject({
      method: 'GET',
      path: 'Condition?patient=pat-1',
      authorization: 'Bearer token-1',
      status: 200,
    });
    expect(server.requests[0]?.endedAt).toBeGreaterThanOrEqual(server.requests[0]?.startedAt ?? Infinity);
    expect(server.requests[1]).toMatchObject({ path: 'Patient/pat-2', status: 200 });
    expect(server.requests[1]?.authorization).toBeUndefined();
  });

  describe('faults', () => {
    it('delays answers', async () => {
      server.setFaults([{ delayMs: 150 }]);
      const started = Date.now();
      const { status } = await getJson(`${server.url}/Patient/pat-1`);
      expect(status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    });

    it.each([500, 401])('answers status %i with an OperationOutcome', async (code) => {
      server.setFaults([{ status: code }]);
      const { status, body } = await getJson<fhir4.OperationOutcome>(`${server.url}/Patient/pat-1`);
      expect(status).toBe(code);
      expect(body.resourceType).toBe('OperationOutcome');
    });

    it('answers garbage that is not JSON', async () => {
      server.setFaults([{ garbage: true }]);
      const res = await fetch(`${server.url}/Patient/pat-1`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(() => JSON.parse(text)).toThrow();
    });

    it('applies a fault only to matching paths', async () => {
      server.setFaults([{ match: /^Condition\b/, status: 500 }]);
      expect((await fetch(`${server.url}/Condition?patient=pat-1`)).status).toBe(500);
      expect((await fetch(`${server.url}/Patient/pat-1`)).status).toBe(200);
    });

    it('applies the first matching fault', async () => {
      server.setFaults([{ match: /^Patient/, status: 401 }, { status: 500 }]);
      expect((await fetch(`${server.url}/Patient/pat-1`)).status).toBe(401);
      expect((await fetch(`${server.url}/Condition`)).status).toBe(500);
    });

    it('reset() removes faults and the request log', async () => {
      server.setFaults([{ status: 500 }]);
      await fetch(`${server.url}/Patient/pat-1`);
      server.reset();
      expect(server.requests).toHaveLength(0);
      expect((await fetch(`${server.url}/Patient/pat-1`)).status).toBe(200);
    });

    it('tracks the peak number of concurrent requests', async () => {
      server.setFaults([{ delayMs: 200 }]);
      await Promise.all(['pat-1', 'pat-2', 'pat-1'].map((id) => fetch(`${server.url}/Patient/${id}`)));
      expect(server.maxConcurrent()).toBe(3);
      server.reset();
      expect(server.maxConcurrent()).toBe(0);
    });
  });
});

describe('FHIR test server paging', () => {
  let server: FhirTestServer;
  const observations = Array.from({ length: 7 }, (_, i) => observation(`page-obs-${i}`, 'pat-1', '2857-1'));

  beforeAll(async () => {
    server = await startFhirTestServer({ resources: observations, pageSize: 3 });
  });
  afterAll(() => server.close());

  it('pages with next links until all results are seen exactly once', async () => {
    const first = await getJson<fhir4.Bundle>(`${server.url}/Observation?patient=pat-1`);
    expect(first.body.entry).toHaveLength(3);
    expect(first.body.total).toBe(7);
    const ids: string[] = [];
    let bundle = first.body;
    let pages = 1;
    for (;;) {
      ids.push(...(bundle.entry ?? []).map((e) => e.resource?.id ?? ''));
      const next = nextLink(bundle);
      if (!next) break;
      expect(next.startsWith(`${server.url}/Observation?`)).toBe(true);
      bundle = (await getJson<fhir4.Bundle>(next)).body;
      pages++;
    }
    expect(pages).toBe(3);
    expect(ids).toHaveLength(7);
    expect(new Set(ids)).toEqual(new Set(observations.map((o) => o.id)));
  });

  it('honours an explicit _count', async () => {
    const { body } = await getJson<fhir4.Bundle>(`${server.url}/Observation?_count=5`);
    expect(body.entry).toHaveLength(5);
    expect(nextLink(body)).toContain('_count=5');
  });

  it('clear() removes all seeded data', async () => {
    await server.clear();
    const { body } = await getJson<fhir4.Bundle>(`${server.url}/Observation`);
    expect(body.total).toBe(0);
    await server.seed([observations[0]!]);
    expect((await getJson<fhir4.Bundle>(`${server.url}/Observation`)).body.total).toBe(1);
  });
});

describe('FHIR test server hanging requests', () => {
  let server: FhirTestServer | undefined;

  afterEach(() => server?.close());

  it('never answers a hung request and releases it on close()', async () => {
    server = await startFhirTestServer();
    server.setFaults([{ hang: true }]);
    const pending = fetch(`${server.url}/Patient/pat-1`);
    const settled = pending.then(
      () => 'answered',
      () => 'failed',
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.status).toBeUndefined();
    await server.close();
    server = undefined;
    expect(await settled).toBe('failed');
  });
});
