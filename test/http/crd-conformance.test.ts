import request from 'supertest';
import { describe, expect, test } from 'vitest';
import { testApp } from '../support/app.js';
import { conformanceProblems } from '../support/crd-conformance.js';
import { request as fixtureRequest } from '../support/fixtures.js';
import { scenarioFiles } from '../support/scenarios.js';

/** Every response the fixture suite produces passes the Inferno CRD checks (Groups C–G) that apply to order-sign. */

const SERVICE = '/cds-services/cryoablation-order-sign';

/** Posts every scenario fixture in turn: its time grows with the scenario library (and a loaded machine). */
const { app } = testApp();
const requests: [string, Record<string, any>][] = [
  ...scenarioFiles().map((s) => [`${s.file}/${s.name}`, s.fixture.request] as [string, Record<string, any>]),
  ...[
    'renal-cryoablation-prefetched',
    'clients/medplum-client',
    'clients/inferno-order-sign',
    'clients/cds-hooks-sandbox-rx-sign',
  ].map((f) => [f, fixtureRequest(`${f}.json`)] as [string, Record<string, any>]),
];

describe('Inferno CRD checks on every fixture response', () => {
  test.each(requests)('%s', async (_name, body) => {
    const res = await request(app).post(SERVICE).send(body);
    expect(conformanceProblems(body, res.status, res.body)).toEqual([]);
  });

  // One test per fixture (issue 9: a loop over every fixture in one test timed out on a loaded machine).
  const withCoverage = scenarioFiles().filter((s) =>
    JSON.stringify(s.fixture.request.prefetch?.coverage ?? {}).includes('"Coverage"'),
  );
  test.each(withCoverage.map((s) => [`${s.file}/${s.name}`, s] as const))(
    'each order in scope gets exactly one coverage-information update when the member has a Coverage: %s',
    async (_name, s) => {
      const res = await request(app).post(SERVICE).send(s.fixture.request);
      const decided = Object.entries(s.fixture.expected)
        .filter(([, e]) => e.outcome !== 'out-of-scope')
        .map(([ref]) => ref);
      const updated = res.body.systemActions.map((a: any) => `${a.resource.resourceType}/${a.resource.id}`);
      expect([...updated].sort()).toEqual([...decided].sort());
    },
  );
});

describe('the checker catches what the kit rejects', () => {
  const body = fixtureRequest('renal-cryoablation-prefetched.json');
  test.each([
    ['a summary of 140 characters', (r: any) => (r.cards[0].summary = 'x'.repeat(140)), /summary has 140 characters/],
    ['a missing systemActions', (r: any) => delete r.systemActions, /systemActions must be present/],
    ['an empty string', (r: any) => (r.cards[0].detail = ''), /detail is ""/],
    [
      'pa-needed with not-covered',
      (r: any) => {
        const ext = r.systemActions[0].resource.extension.at(-1).extension;
        ext.find((e: any) => e.url === 'covered').valueCode = 'not-covered';
      },
      /q2 \(2\.1\)/,
    ],
    [
      'another extension of the order dropped',
      (_r: any, req: any) => {
        req.context.draftOrders.entry[0].resource.extension = [{ url: 'http://example.org/x', valueString: 'y' }];
      },
      /came back changed/,
    ],
    [
      'a second assertion for the same order',
      (r: any) => r.systemActions.push(structuredClone(r.systemActions[0])),
      /more than one coverage-information update/,
    ],
    [
      'a suggestion without uuid',
      (r: any) => (r.cards[0] = { ...r.cards[0], suggestions: [{ label: 'x' }], selectionBehavior: 'any' }),
      /uuid missing \(CRD SHALL\)/,
    ],
  ])('%s', async (_name, mutate: (response: any, request: any) => unknown, expected) => {
    const res = await request(app).post(SERVICE).send(body);
    const broken = structuredClone(res.body);
    const sent = structuredClone(body);
    mutate(broken, sent);
    expect(conformanceProblems(sent, 200, broken).join('\n')).toMatch(expected);
  });
});
