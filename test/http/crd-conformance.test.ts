import request from 'supertest';
import { describe, expect, test } from 'vitest';
import { testApp } from '../support/app.js';
import { conformanceProblems } from '../support/crd-conformance.js';
import { request as fixtureRequest } from '../support/fixtures.js';
import { scenarioFiles } from '../support/scenarios.js';

/** Every response the fixture suite produces passes the Inferno CRD checks (Groups C–G) that apply to order-sign. */

const SERVICE = '/cds-services/cryoablation-order-sign';
const { app } = testApp();
const requests: [string, Record<string, any>][] = [
  ...scenarioFiles().map((s) => [`${s.file}/${s.name}`, s.fixture.request] as [string, Record<string, any>]),
  ...['renal-cryoablation-prefetched', 'clients/medplum-client', 'clients/inferno-order-sign', 'clients/cds-hooks-sandbox-rx-sign'].map(
    (f) => [f, fixtureRequest(`${f}.json`)] as [string, Record<string, any>],
  ),
];

describe('Inferno CRD checks on every fixture response', () => {
  test.each(requests)('%s', async (_name, body) => {
    const res = await request(app).post(SERVICE).send(body);
    expect(conformanceProblems(body, res.status, res.body)).toEqual([]);
  });

  test('each order in scope gets exactly one coverage-information update when the member has a Coverage', async () => {
    const missing: string[] = [];
    for (const s of scenarioFiles()) {
      const res = await request(app).post(SERVICE).send(s.fixture.request);
      const decided = Object.entries(s.fixture.expected).filter(([, e]) => e.outcome !== 'out-of-scope').map(([ref]) => ref);
      const updated = res.body.systemActions.map((a: any) => `${a.resource.resourceType}/${a.resource.id}`);
      const hasCoverage = JSON.stringify(s.fixture.request.prefetch?.coverage ?? {}).includes('"Coverage"');
      if (hasCoverage && JSON.stringify([...decided].sort()) !== JSON.stringify([...updated].sort())) missing.push(`${s.file}/${s.name}`);
    }
    expect(missing).toEqual([]);
  }, 30_000); // every fixture through one app, each call committed to the store
});

describe('the checker catches what the kit rejects', () => {
  const body = fixtureRequest('renal-cryoablation-prefetched.json');
  test.each([
    ['a summary of 140 characters', (r: any) => (r.cards[0].summary = 'x'.repeat(140)), /summary has 140 characters/],
    ['a missing systemActions', (r: any) => delete r.systemActions, /systemActions must be present/],
    ['an empty string', (r: any) => (r.cards[0].detail = ''), /detail is ""/],
    ['pa-needed with not-covered', (r: any) => {
      const ext = r.systemActions[0].resource.extension.at(-1).extension;
      ext.find((e: any) => e.url === 'covered').valueCode = 'not-covered';
    }, /q2 \(2\.1\)/],
    ['another extension of the order dropped', (_r: any, req: any) => {
      req.context.draftOrders.entry[0].resource.extension = [{ url: 'http://example.org/x', valueString: 'y' }];
    }, /came back changed/],
    ['a second assertion for the same order', (r: any) => r.systemActions.push(structuredClone(r.systemActions[0])), /more than one coverage-information update/],
    ['a suggestion without uuid', (r: any) => (r.cards[0] = { ...r.cards[0], suggestions: [{ label: 'x' }], selectionBehavior: 'any' }), /uuid missing \(CRD SHALL\)/],
  ])('%s', async (_name, mutate: (response: any, request: any) => unknown, expected) => {
    const res = await request(app).post(SERVICE).send(body);
    const broken = structuredClone(res.body);
    const sent = structuredClone(body);
    mutate(broken, sent);
    expect(conformanceProblems(sent, 200, broken).join('\n')).toMatch(expected);
  });
});
