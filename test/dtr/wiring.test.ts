import { expect, test } from 'vitest';
import { questionnaireCatalog, storeLookup, type AssertionReader } from '../../src/dtr/wiring.js';
import { StoreUnavailableError, type StoredAssertion } from '../../src/store/index.js';

const q = (version: string): fhir4.Questionnaire => ({
  resourceType: 'Questionnaire',
  url: 'https://p.example/Q',
  version,
  status: 'active',
});

test('the catalog finds by url and version; without a version, the highest', () => {
  const c = questionnaireCatalog(
    [q('2026.2'), q('2026.10'), q('2026.9')],
    [{ resourceType: 'ValueSet', url: 'https://p.example/vs', version: '1', status: 'active' }],
  );
  expect(c.find('https://p.example/Q')?.version).toBe('2026.10');
  expect(c.find('https://p.example/Q', '2026.2')?.version).toBe('2026.2');
  expect(c.find('https://p.example/Q', '1')).toBeUndefined();
  expect(c.find('https://p.example/other')).toBeUndefined();
  expect(c.valueSet?.('https://p.example/vs|1')?.version).toBe('1');
  expect(c.valueSet?.('https://p.example/vs|2')).toBeUndefined();
});

test('the store lookup asks the store by id, else by order and coverage', async () => {
  const calls: string[] = [];
  const a = { id: 'a1' } as StoredAssertion;
  const reader: AssertionReader = {
    getAssertion: async (id) => (calls.push(`get ${id}`), a),
    latestAssertion: async (o, c) => (calls.push(`latest ${o} ${c}`), undefined),
  };
  const lookup = storeLookup(async () => reader);
  expect(await lookup({ assertionId: 'a1' })).toBe(a);
  expect(await lookup({ orderRef: 'ServiceRequest/1', coverageRef: 'Coverage/2' })).toBeUndefined();
  expect(calls).toEqual(['get a1', 'latest ServiceRequest/1 Coverage/2']);
});

test('a store not open, or unavailable, is a value; other errors are thrown', async () => {
  expect(await storeLookup(async () => undefined)({ assertionId: 'a1' })).toBe('unavailable');
  const down: AssertionReader = {
    getAssertion: async () => {
      throw new StoreUnavailableError('ECONNREFUSED');
    },
    latestAssertion: async () => {
      throw new Error('bug');
    },
  };
  expect(await storeLookup(async () => down)({ assertionId: 'a1' })).toBe('unavailable');
  await expect(
    storeLookup(async () => down)({ orderRef: 'ServiceRequest/1', coverageRef: 'Coverage/2' }),
  ).rejects.toThrow('bug');
});
