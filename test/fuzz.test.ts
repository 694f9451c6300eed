import fc from 'fast-check';
import { expect, test } from 'vitest';
import { testApp } from './support/app.js';
import { request as fixtureRequest } from './support/fixtures.js';
import { mutatedBodies, sendFuzzed } from './support/fuzz.js';
import { scenarioFiles } from './support/scenarios.js';

/** A short fuzzing run inside npm test; `npm run fuzz` runs longer and reports timings and memory. */

const SERVICE = '/cds-services/cryoablation-order-sign';

test('mutated order-sign requests and random bytes never get a 5xx or an invalid body', async () => {
  const { app } = testApp();
  const bases = [
    fixtureRequest('renal-cryoablation-prefetched.json'),
    scenarioFiles().find((s) => s.name === 'three-orders-one-request')!.fixture.request,
    scenarioFiles().find((s) => s.name === 'phoenix-failure-attested-life-expectancy-covered')!.fixture.request,
  ];
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...bases).chain(mutatedBodies), async (body) => {
      const answer = await sendFuzzed(app, SERVICE, body);
      expect(answer.problem).toBeUndefined();
    }),
    { numRuns: 150, seed: 20261123 },
  );
}, 120_000);
