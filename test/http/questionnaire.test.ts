import request from 'supertest';
import { describe, expect, test } from 'vitest';
import { testApp } from '../support/app.js';
import { scenarioFiles } from '../support/scenarios.js';

/**
 * The documentation Questionnaire's canonical is the policy's own (criteria.yaml questionnaire.url), so a completed
 * response counts wherever the service runs, and the service resolves the canonical (issue 9 item 1).
 */

const SERVICE = '/cds-services/cryoablation-order-sign';
const CANONICAL = 'https://fhir.aspirushealthplan.example/Questionnaire/cryoablation-medical-necessity';

const attested = scenarioFiles().filter(
  (s) =>
    JSON.stringify(s.fixture.request).includes(`"questionnaire":"${CANONICAL}|`) &&
    Object.values(s.fixture.expected).some((e) => e.outcome === 'covered'),
);

describe('the same completed questionnaire decides identically on any base URL and port', () => {
  const hosts: Record<string, string>[] = [
    { PORT: '3000' },
    { PORT: '3003', CDS_PUBLIC_BASE_URL: 'https://crd.plan.example:8443/crd' },
    { PORT: '0' },
  ];

  test('the fixtures hold attested scenarios decided covered', () => expect(attested.length).toBeGreaterThan(5));

  test.each(attested.slice(0, 8).map((s) => [`${s.file}/${s.name}`, s] as const))('%s', async (_name, s) => {
    const answers = await Promise.all(
      hosts.map(async (env) => {
        const res = await request(testApp(env).app).post(SERVICE).send(s.fixture.request);
        expect(res.status).toBe(200);
        return {
          summaries: (res.body.cards as { summary: string }[]).map((c) => c.summary),
          covered: (res.body.systemActions as any[]).map((a) =>
            JSON.stringify(a.resource.extension.at(-1).extension.find((e: any) => e.url === 'covered')),
          ),
        };
      }),
    );
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    expect(answers[0]!.covered.join()).toContain('"valueCode":"covered"');
  });
});

describe('GET /fhir/Questionnaire', () => {
  const { app } = testApp({ CDS_PUBLIC_BASE_URL: 'https://crd.plan.example' });

  test("by id: the canonical is the policy's, whatever the base URL", async () => {
    const res = await request(app).get('/fhir/Questionnaire/cryoablation-medical-necessity');
    expect(res.status).toBe(200);
    expect(res.type).toBe('application/fhir+json');
    expect(JSON.parse(res.text)).toMatchObject({ resourceType: 'Questionnaire', url: CANONICAL, version: '1.0.0' });
    const indication = JSON.parse(res.text).item[0].answerOption[0].valueCoding.system;
    expect(indication).toBe(`${CANONICAL}/indication`);
  });

  test.each([
    ['url', `?url=${encodeURIComponent(CANONICAL)}`, 1],
    ['url and version', `?url=${encodeURIComponent(CANONICAL)}&version=1.0.0`, 1],
    ['a versioned canonical', `?url=${encodeURIComponent(`${CANONICAL}|1.0.0`)}`, 1],
    ['another version', `?url=${encodeURIComponent(CANONICAL)}&version=2.0.0`, 0],
    ['another canonical', `?url=${encodeURIComponent('https://elsewhere.example/Questionnaire/x')}`, 0],
    ['no parameter (every Questionnaire)', '', 1],
  ])('by %s: a searchset Bundle', async (_name, query, count) => {
    const res = await request(app).get(`/fhir/Questionnaire${query}`);
    expect(res.status).toBe(200);
    const bundle = JSON.parse(res.text);
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: count });
    expect(bundle.entry).toHaveLength(count);
    if (count > 0) expect(bundle.entry[0]).toMatchObject({ resource: { url: CANONICAL }, search: { mode: 'match' } });
  });

  test('an unsupported search parameter is a 400 OperationOutcome', async () => {
    const res = await request(app).get('/fhir/Questionnaire?title=x');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).issue[0].diagnostics).toMatch(/"title" is not supported/);
  });
});
