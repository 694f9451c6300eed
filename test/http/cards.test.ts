import request from 'supertest';
import { beforeAll, describe, expect, test } from 'vitest';
import { testApp } from '../support/app.js';
import { omit } from '../support/objects.js';
import { scenarioFiles } from '../support/scenarios.js';

/** What the clinician and the EHR receive for each outcome, asserted field by field on scenario fixtures. */

const SERVICE = '/cds-services/cryoablation-order-sign';

/** Posts every scenario fixture in turn: its time grows with the scenario library (and a loaded machine). */
const BASE = 'http://localhost:3000';
const CPT = 'http://www.ama-assn.org/go/cpt';
const TOPIC = 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp';
const CI = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';

function scenario(id: string): Record<string, any> {
  const [file, name] = id.split('/');
  const s = scenarioFiles().find((x) => x.file === file && x.name === name);
  if (!s) throw new Error(`no scenario ${id}`);
  return structuredClone(s.fixture.request);
}

async function answer(body: Record<string, any>, env: Record<string, string> = {}) {
  const res = await request(testApp(env).app).post(SERVICE).send(body);
  expect(res.status).toBe(200);
  return res.body as { cards: any[]; systemActions: any[] };
}

/** The coverage-information of an updated order as [url, value] pairs, assertion id replaced by a marker. */
function assertionOf(action: any): [string, unknown][] {
  const exts = action.resource.extension.filter((e: any) => e.url === CI);
  expect(exts).toHaveLength(1);
  return exts[0].extension.map((e: any) => {
    const value =
      e.valueCode ??
      e.valueDate ??
      e.valueCanonical ??
      e.valueReference ??
      e.valueCoding ??
      e.valueCodeableConcept ??
      e.valueString;
    return [
      e.url,
      e.url === 'coverage-assertion-id' ? (typeof value === 'string' && value.length > 0 ? 'an id' : value) : value,
    ];
  });
}

const decisionCardOf = (cards: any[], ref: string) =>
  cards.find(
    (c) =>
      c.extension?.['davinci-crd.associated-resource']?.length === 1 &&
      c.extension['davinci-crd.associated-resource'][0] === ref &&
      !/^Prior authorization/.test(c.summary),
  );

describe('covered', () => {
  test('coverage-information covered + auth-needed; a card naming the criterion met with its evidence; prior-authorization instructions', async () => {
    const body = scenario('V-renal/tumor-5cm-egfr-48-covered-by-v-b');
    const { cards, systemActions } = await answer(body);
    expect(systemActions).toHaveLength(1);
    const [action] = systemActions;
    expect(action.type).toBe('update');
    expect(action.description).toBe(
      'Aspirus Health Plan coverage assertion for Percutaneous renal tumor cryoablation: covered',
    );
    expect(omit(action.resource, 'extension')).toEqual(body.context.draftOrders.entry[0].resource);
    expect(assertionOf(action)).toEqual([
      ['coverage', { reference: 'Coverage/cov-1' }],
      ['covered', 'covered'],
      ['pa-needed', 'auth-needed'],
      ['billingCode', { system: CPT, code: '50593' }],
      ['reason', { text: 'Meets Cryoablation policy V.B; prior authorization required' }],
      ['date', '2026-11-23'],
      ['coverage-assertion-id', 'an id'],
    ]);

    const card = decisionCardOf(cards, 'ServiceRequest/sr-1');
    expect(card).toMatchObject({
      summary:
        'Covered: Renal cryoablation (CPT 50593) meets Cryoablation policy V.B. Next: request prior authorization',
      indicator: 'info',
      source: {
        label: 'Aspirus Health Plan',
        topic: { system: TOPIC, code: 'coverage-info', display: 'Coverage Information' },
      },
      links: [{ label: 'Cryoablation policy, section V', url: `${BASE}/policies/cryoablation#V`, type: 'absolute' }],
    });
    expect(card.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(card.detail).toContain('**Decision: covered** — Percutaneous renal tumor cryoablation (CPT 50593)');
    expect(card.detail).toContain(
      `Meets **section [V](${BASE}/policies/cryoablation#V) — Renal mass or renal cell carcinoma** — met through:`,
    );
    expect(card.detail).toContain(
      `- [V.B](${BASE}/policies/cryoablation#V.B) — Member is a poor candidate for surgery`,
    );
    expect(card.detail).toContain('eGFR (MDRD) (33914-3) 48 mL/min/1.73m2 on 2026-10-02');
    expect(card.detail).not.toContain('[V.A]');
    expect(card.detail).toMatch(/\*\*Next step:\*\* Request prior authorization before scheduling/);
    expect(card.suggestions).toBeUndefined();

    const pa = cards.find((c) => /^Prior authorization/.test(c.summary));
    expect(pa).toMatchObject({
      summary: 'Prior authorization required by Aspirus Health Plan for CPT 50593',
      indicator: 'info',
    });
    expect(pa.links).toBeUndefined();
    expect(pa.suggestions).toBeUndefined();
    expect(pa.detail).toContain('https://provider-portal.example.org/prior-authorization');
    expect(pa.detail).toContain('1-800-555-0100');
    expect(pa.detail).toContain('within 7 calendar days');
  });
});

describe('documentation needed', () => {
  test('coverage-information conditional with doc-needed, info-needed OTH and the versioned Questionnaire; the card asks the questions', async () => {
    const { cards, systemActions } = await answer(scenario('V-renal/egfr-stale-unknown'));
    expect(assertionOf(systemActions[0])).toEqual([
      ['coverage', { reference: 'Coverage/cov-1' }],
      ['covered', 'conditional'],
      ['pa-needed', 'auth-needed'],
      ['doc-needed', 'clinical'],
      ['doc-purpose', 'withpa'],
      ['info-needed', 'OTH'],
      ['billingCode', { system: CPT, code: '50593' }],
      ['reason', { text: 'Documentation needed for Cryoablation policy: V.A, V.B, V.C, V.D' }],
      // Issue 9: the policy's stable canonical, not one under the service's base URL.
      ['questionnaire', 'https://fhir.aspirushealthplan.example/Questionnaire/cryoablation-medical-necessity|1.0.0'],
      ['date', '2026-11-23'],
      ['coverage-assertion-id', 'an id'],
    ]);
    const card = decisionCardOf(cards, 'ServiceRequest/sr-1');
    expect(card.summary).toBe(
      'Documentation needed: Renal cryoablation (CPT 50593). Next: answer 4 questions in the plan questionnaire',
    );
    expect(card.indicator).toBe('info');
    expect(card.detail).toContain(
      `**Section [V](${BASE}/policies/cryoablation#V) — Renal mass or renal cell carcinoma**: one of these paths suffices`,
    );
    expect(card.detail).toContain(
      `- [V.B](${BASE}/policies/cryoablation#V.B) — Member is a poor candidate for surgery (eg, presence of renal insufficiency or a solitary kidney): Is the member a poor candidate for surgery (e.g. renal insufficiency or a solitary kidney)?`,
    );
    expect(card.detail).toMatch(
      /documentation questionnaire, in your EHR's documentation tool \(DTR\), which the EHR opens from this order's coverage information/,
    );
    expect(card.detail).toMatch(/Or attach the supporting records to the prior-authorization request/);
    // Issue 12 item 4: DTR is launched from the coverage-information's questionnaire (CRD 2.x), never a SMART link.
    expect((card.links ?? []).filter((l: { type?: string }) => l.type === 'smart')).toEqual([]);
    expect(cards.some((c) => /^Prior authorization/.test(c.summary))).toBe(true);
  });
});

describe('not medically necessary', () => {
  test('coverage-information not-covered without pa-needed, naming the failed criteria; a warning card; no prior-authorization card', async () => {
    const { cards, systemActions } = await answer(scenario('V-renal/tumor-5cm-stage-iib-not-medically-necessary'));
    const a = assertionOf(systemActions[0]);
    expect(a.map(([url]) => url)).toEqual([
      'coverage',
      'covered',
      'billingCode',
      'reason',
      'date',
      'coverage-assertion-id',
    ]);
    expect(a).toContainEqual(['covered', 'not-covered']);
    expect(a).toContainEqual([
      'reason',
      { text: 'Not medically necessary under Cryoablation policy: V.A, V.B, V.C, V.D not met' },
    ]);
    expect(cards).toHaveLength(1);
    expect(cards[0]).toMatchObject({
      summary:
        'Not covered: Renal cryoablation (CPT 50593) fails V.A, V.B, V.C, V.D. Next: correct the record or ask for peer review',
      indicator: 'warning',
      source: { topic: { code: 'guideline' } },
    });
    expect(cards[0].detail).toContain(
      `- [V.B](${BASE}/policies/cryoablation#V.B) — Member is a poor candidate for surgery (eg, presence of renal insufficiency or a solitary kidney) — not met on: clinician attested "no" on 2026-11-20 (QuestionnaireResponse/qr-1, not linked to an order)`,
    );
    expect(cards[0].detail).toContain('Tumor size (21889-1) Longest dimension (33728-7) 5 cm on 2026-10-01');
    expect(cards[0].detail).toMatch(/peer-to-peer review/);
  });
});

describe('investigative', () => {
  test('not-covered with the exclusion as reason; a warning card with a delete suggestion and override reasons; the cryo-method note', async () => {
    const body = scenario('general-exclusions/cpt-64640-knee-investigative');
    const { cards, systemActions } = await answer(body);
    expect(assertionOf(systemActions[0])).toContainEqual([
      'reason',
      { text: 'Investigative under Cryoablation policy exclusion I' },
    ]);
    expect(assertionOf(systemActions[0]).find(([u]) => u === 'pa-needed')).toBeUndefined();
    expect(cards).toHaveLength(1);
    const [card] = cards;
    expect(card).toMatchObject({
      summary:
        'Investigative, not covered: Peripheral nerve destruction (CPT 64640), Cryoablation policy exclusion I. Next: remove the order',
      indicator: 'warning',
      selectionBehavior: 'at-most-one',
      links: [{ url: `${BASE}/policies/cryoablation#EX.I`, type: 'absolute' }],
    });
    expect(card.suggestions).toHaveLength(1);
    expect(card.suggestions[0].uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(card.suggestions[0].actions).toEqual([
      {
        type: 'delete',
        description: 'Remove the draft order for Genicular nerve cryoneurolysis',
        resourceId: 'ServiceRequest/sr-1',
      },
    ]);
    expect(card.overrideReasons.map((o: any) => o.display)).toEqual([
      'Member is enrolled in a clinical trial',
      'Member accepts financial responsibility',
      'Will request a peer-to-peer review',
    ]);
    expect(card.detail).toContain(
      'This policy governs the cryoablation method; CPT 64640 also describes other methods',
    );
  });
});

describe('no active coverage', () => {
  test('no Coverage at all: no system action (the extension needs a Coverage) and a single card saying so', async () => {
    const { cards, systemActions } = await answer(scenario('general-exclusions/no-coverage-on-record'));
    expect(systemActions).toEqual([]);
    expect(cards).toHaveLength(1);
    expect(cards[0]).toMatchObject({
      summary:
        "No active coverage with Aspirus Health Plan for Renal cryoablation (CPT 50593). Next: verify the member's insurance",
      indicator: 'warning',
    });
  });

  test('a Coverage that is not active: not-covered "No active coverage" on it, and the same single card', async () => {
    const { cards, systemActions } = await answer(scenario('general-exclusions/coverage-expired'));
    const a = assertionOf(systemActions[0]);
    expect(a).toContainEqual(['covered', 'not-covered']);
    expect(a).toContainEqual(['reason', { text: 'No active coverage' }]);
    expect(a).toContainEqual(['coverage', { reference: 'Coverage/cov-1' }]);
    expect(cards.map((c) => c.summary)).toEqual([
      "No active coverage with Aspirus Health Plan for Renal cryoablation (CPT 50593). Next: verify the member's insurance",
    ]);
  });
});

describe('several orders in one signing', () => {
  test('one card and one assertion per order in scope, each naming its order; nothing for the order out of scope', async () => {
    const { cards, systemActions } = await answer(scenario('general-exclusions/three-orders-one-request'));
    expect(systemActions.map((a) => a.resource.id).sort()).toEqual(['sr-knee', 'sr-renal']);
    expect(decisionCardOf(cards, 'ServiceRequest/sr-renal').detail).toContain(
      '— Percutaneous renal tumor cryoablation (CPT 50593), order ServiceRequest/sr-renal',
    );
    expect(decisionCardOf(cards, 'ServiceRequest/sr-knee').detail).toContain(
      '— Genicular nerve cryoneurolysis (CPT 64640), order ServiceRequest/sr-knee',
    );
    expect(JSON.stringify(cards)).not.toContain('sr-ct');
    const pa = cards.find((c) => /^Prior authorization/.test(c.summary));
    expect(pa.extension['davinci-crd.associated-resource']).toEqual(['ServiceRequest/sr-renal']);
  });

  test('cards come most important first, and max-cards keeps the first ones', async () => {
    const body = scenario('general-exclusions/three-orders-one-request');
    const { cards } = await answer(body);
    expect(cards.map((c) => c.indicator)).toEqual(['warning', 'info', 'info']);
    body.extension = { 'davinci-crd.configuration': { 'max-cards': 1 } };
    const capped = await answer(body);
    expect(capped.cards.map((c) => c.summary)).toEqual([cards[0].summary]);
    expect(capped.systemActions).toHaveLength(2);
  });
});

describe('the client configuration (davinci-crd.configuration)', () => {
  test('guideline off drops the not-covered explanation cards but keeps the coverage assertions', async () => {
    const body = scenario('general-exclusions/three-orders-one-request');
    body.extension = { 'davinci-crd.configuration': { guideline: false } };
    const { cards, systemActions } = await answer(body);
    expect(cards.every((c) => c.source.topic.code === 'coverage-info')).toBe(true);
    expect(cards.some((c) => /investigative/.test(c.summary))).toBe(false);
    expect(systemActions).toHaveLength(2);
  });

  test('coverage-info off drops the assertions and the coverage cards', async () => {
    const body = scenario('general-exclusions/three-orders-one-request');
    body.extension = { 'davinci-crd.configuration': { 'coverage-info': false } };
    const { cards, systemActions } = await answer(body);
    expect(systemActions).toEqual([]);
    expect(cards.map((c) => c.source.topic.code)).toEqual(['guideline']);
  });
});

describe('re-signing an order that already carries an assertion', () => {
  test('the assertion for the same coverage is replaced, never duplicated; other extensions are kept', async () => {
    const body = scenario('V-renal/tumor-3cm-covered');
    const first = await answer(body);
    const signed = first.systemActions[0].resource;
    signed.extension.unshift({ url: 'http://example.org/other-extension', valueString: 'kept' });
    body.context.draftOrders.entry[0].resource = signed;
    const again = await answer(body);
    const exts = again.systemActions[0].resource.extension;
    expect(exts.filter((e: any) => e.url === CI)).toHaveLength(1);
    expect(exts[0]).toEqual({ url: 'http://example.org/other-extension', valueString: 'kept' });
    const id = (r: any) =>
      r.extension.find((e: any) => e.url === CI).extension.find((e: any) => e.url === 'coverage-assertion-id')
        .valueString;
    expect(id(again.systemActions[0].resource)).not.toBe(id(signed));
  });
});

describe('the policy page', () => {
  test('GET /policies/cryoablation is HTML with an anchor for every criterion id', async () => {
    const t = testApp();
    const res = await request(t.app).get('/policies/cryoablation');
    expect(res.status).toBe(200);
    expect(res.type).toBe('text/html');
    const policy = t.registry.get('cryoablation-order-sign')!.policy;
    for (const id of [...policy.nodes.keys(), policy.priorAuthorization.id]) expect(res.text).toContain(`id="${id}"`);
    expect(res.text).toContain('Glomerular filtration rate of less than or equal to 60 ml/min/m2');
  });

  // One test per fixture (issue 9: a loop over every fixture in one test timed out on a loaded machine).
  describe('every link of every fixture card reaches an anchor that exists on the page', () => {
    const t = testApp();
    let page = '';
    const anchors = new Set<string>();
    beforeAll(async () => {
      page = (await request(t.app).get('/policies/cryoablation')).text;
    });
    test.each(scenarioFiles().map((s) => [`${s.file}/${s.name}`, s] as const))('%s', async (_name, s) => {
      const res = await request(t.app).post(SERVICE).send(s.fixture.request);
      const links = new Set<string>();
      for (const c of res.body.cards) {
        for (const l of c.links ?? []) links.add(l.url);
        for (const m of String(c.detail).matchAll(/\]\((http[^)]+)\)/g)) links.add(m[1]!);
      }
      for (const u of links) anchors.add(u);
      const missing = [...links].filter(
        (u) => !u.startsWith(`${BASE}/policies/cryoablation#`) || !page.includes(`id="${u.split('#')[1]}"`),
      );
      expect(missing).toEqual([]);
    });
    test('the fixtures link more than 20 anchors', () => expect(anchors.size).toBeGreaterThan(20));
  });

  test("CDS_POLICY_URL points card links at the plan's published policy instead", async () => {
    const { cards } = await answer(scenario('V-renal/tumor-3cm-covered'), {
      CDS_POLICY_URL: 'https://plan.example.org/policies/cryo',
    });
    expect(cards[0].links[0].url).toBe('https://plan.example.org/policies/cryo#V');
  });

  test('an unknown policy is a 404 OperationOutcome', async () => {
    const res = await request(testApp().app).get('/policies/nope');
    expect(res.status).toBe(404);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });
});
