import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fhirAccess } from '../src/cds-hooks/fhir-client.js';
import { gather, type PlannedQuery } from '../src/cds-hooks/gather.js';
import { expandTemplate } from '../src/cds-hooks/prefetch.js';
import { shippedRegistry } from './support/app.js';
import { startFhirTestServer, type FhirTestServer } from './support/fhir-server.js';
import { patientResources } from './support/fixtures.js';

const service = shippedRegistry().get('cryoablation-order-sign')!;
let fhir: FhirTestServer;

beforeAll(async () => {
  fhir = await startFhirTestServer({ resources: patientResources('renal-rcc'), pageSize: 1 });
  await fhir.seed(
    ['a', 'b'].map((id) => ({
      resourceType: 'Condition',
      id: `extra-${id}`,
      subject: { reference: 'Patient/pat-renal-1' },
    })),
  );
});
afterAll(async () => fhir.close());

function planned(patientId: string, keys: string[]): PlannedQuery[] {
  return service.queries
    .filter((q) => keys.includes(q.key))
    .map((query) => ({ query, url: expandTemplate(query.template, { userId: 'Practitioner/p', patientId }) }));
}

const run = (plan: PlannedQuery[], prefetch: Record<string, unknown> = {}) =>
  gather({
    planned: plan,
    prefetch,
    access: fhirAccess(`${fhir.url}/`, ''),
    timeoutMs: 2000,
    maxPages: 10,
    maxBytes: 1_000_000,
    budget: { resources: 10_000, bytes: 10_000_000 },
    fetch,
  });

describe('gather', () => {
  test('collects every page of a search, each resource once, only for this patient', async () => {
    const { outcomes, fhirRequests } = await run(planned('pat-renal-1', ['conditions']));
    const [conditions] = outcomes;
    expect(conditions?.status).toBe('complete');
    expect(conditions?.source).toBe('fhir');
    expect(conditions?.resources.map((r) => r.id).sort()).toEqual(['cond-rcc-1', 'extra-a', 'extra-b']);
    expect(fhirRequests).toBe(3);
  });

  test('a read of a patient the server does not know is "no data", not a failure', async () => {
    const { outcomes } = await run(planned('unknown-patient', ['patient']));
    expect(outcomes[0]).toMatchObject({ status: 'complete', resources: [] });
  });

  test('prefetched values are used as they are: a Bundle for a search, a resource for a read, null for none', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [{ resource: { resourceType: 'Coverage', id: 'c' } }],
    };
    const { outcomes, fhirRequests } = await run(planned('pat-renal-1', ['patient', 'coverage', 'procedures']), {
      patient: { resourceType: 'Patient', id: 'pat-renal-1' },
      coverage: bundle,
      procedures: null,
    });
    expect(fhirRequests).toBe(0);
    expect(outcomes.map((o) => [o.query.key, o.source, o.resources.map((r) => r.id)])).toEqual([
      ['patient', 'prefetch', ['pat-renal-1']],
      ['coverage', 'prefetch', ['c']],
      ['procedures', 'prefetch', []],
    ]);
  });

  test('OperationOutcome entries of a searchset are not data', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [{ resource: { resourceType: 'OperationOutcome', issue: [] }, search: { mode: 'outcome' } }],
    };
    const { outcomes } = await run(planned('pat-renal-1', ['procedures']), { procedures: bundle });
    expect(outcomes[0]?.resources).toEqual([]);
  });

  test('a query whose token has no value is not run', async () => {
    const query = { ...service.queries[0]!, key: 'encounter', template: 'Encounter/{{context.encounterId}}' };
    const { outcomes, fhirRequests } = await run([
      { query, url: expandTemplate(query.template, { userId: 'u', patientId: 'p' }) },
    ]);
    expect(outcomes[0]?.status).toBe('not-applicable');
    expect(fhirRequests).toBe(0);
  });
});
