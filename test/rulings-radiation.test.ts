import { describe, expect, test } from 'vitest';
import { shippedRegistry } from './support/app.js';
import { allResults, runScenario, scenarioFiles, type ScenarioFixture } from './support/scenarios.js';

/**
 * Ruling R13 (shared/policy/rulings.md): radiation counts for section IV only when directed at the prostate - its
 * reason (reasonCode, or reasonReference to the prostate cancer) when it states one, else its body site (prostate or
 * pelvis), else untied only when the member has no other cancer. The scenario builder writes Procedures without body
 * site or reason, so these cases take the rulings-radiation scenarios and tie their radiation course here.
 */

const service = shippedRegistry().get('cryoablation-order-sign')!;
const SCT = 'http://snomed.info/sct';

function scenario(name: string): ScenarioFixture {
  const s = scenarioFiles().find((x) => x.name === name);
  if (!s) throw new Error(`no scenario ${name}`);
  return structuredClone(s.fixture);
}

/** The scenario with its radiation Procedure changed by `tie`. */
function tied(name: string, tie: (procedure: Record<string, unknown>) => void): ScenarioFixture {
  const fixture = scenario(name);
  const procedures = fixture.request['prefetch']['procedures'].entry.map(
    (e: { resource: Record<string, unknown> }) => e.resource,
  );
  const radiation = procedures.find((p: Record<string, any>) =>
    p['code'].coding.some((c: Record<string, string>) => c['code'] === '33195004'),
  );
  tie(radiation);
  return fixture;
}

async function decided(
  fixture: ScenarioFixture,
  ...ids: string[]
): Promise<{ outcome: string; nodes: Record<string, string | undefined> }> {
  const [d] = await runScenario(service, fixture);
  const results = allResults(d!);
  return {
    outcome: d!.outcome,
    nodes: Object.fromEntries(ids.map((id) => [id, results.find((r) => r.id === id)?.state])),
  };
}

const site = (code: string) => [{ coding: [{ system: SCT, code }] }];

describe('ruling R13: radiation counts for IV only when directed at the prostate', () => {
  // Member with prostate cancer (condition-1) and a resolved rectal cancer (condition-2); EBRT in 2020, then a PSA rise.
  const rectal = 'r13-pelvic-radiation-rectal-cancer-not-salvage-evidence';

  test('untied, with another cancer on record: not counted (the scenario itself)', async () => {
    expect(await decided(scenario(rectal), 'IV.B.primary-radiation', 'DEF.biochemical-failure')).toEqual({
      outcome: 'documentation-needed',
      nodes: { 'IV.B.primary-radiation': 'unknown', 'DEF.biochemical-failure': 'unknown' },
    });
  });

  test('body site prostate: counted, the Phoenix failure meets IV.B', async () => {
    const f = tied(rectal, (p) => (p['bodySite'] = site('41216001')));
    expect(await decided(f, 'IV.B.primary-radiation', 'DEF.biochemical-failure', 'IV.B')).toEqual({
      outcome: 'covered',
      nodes: { 'IV.B.primary-radiation': 'met', 'DEF.biochemical-failure': 'met', 'IV.B': 'met' },
    });
  });

  test('body site pelvis: counted', async () => {
    const f = tied(rectal, (p) => (p['bodySite'] = site('12921003')));
    expect((await decided(f, 'DEF.biochemical-failure')).nodes).toEqual({ 'DEF.biochemical-failure': 'met' });
  });

  test('reasonReference to the prostate cancer: counted', async () => {
    const f = tied(rectal, (p) => (p['reasonReference'] = [{ reference: 'Condition/condition-1' }]));
    expect(await decided(f, 'DEF.biochemical-failure')).toEqual({
      outcome: 'covered',
      nodes: { 'DEF.biochemical-failure': 'met' },
    });
  });

  test('pelvic radiation whose reason is the rectal cancer: not counted', async () => {
    const f = tied(rectal, (p) => {
      p['bodySite'] = site('12921003');
      p['reasonReference'] = [{ reference: 'Condition/condition-2' }];
    });
    expect(await decided(f, 'DEF.biochemical-failure')).toEqual({
      outcome: 'documentation-needed',
      nodes: { 'DEF.biochemical-failure': 'unknown' },
    });
  });

  // Member with prostate cancer on surveillance and a lung cancer treated with SBRT in 2024; cT2a cM0, primary therapy attested.
  const lung = 'r13-lung-sbrt-other-cancer-primary-therapy-covered';

  test('radiation to the lung: not counted, primary therapy stands', async () => {
    const f = tied(lung, (p) => (p['bodySite'] = site('39607008')));
    expect(await decided(f, 'IV.A.1')).toEqual({ outcome: 'covered', nodes: { 'IV.A.1': 'met' } });
  });

  // Counted, the radiation contradicts the attested primary therapy: by ruling R3 the criterion pends (no denial).
  test('reasonCode prostate cancer: counted, cryoablation is no longer the primary therapy, against the attestation', async () => {
    const f = tied(
      lung,
      (p) => (p['reasonCode'] = [{ coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'C61' }] }]),
    );
    expect(await decided(f, 'IV.A.1', 'IV.A')).toEqual({
      outcome: 'documentation-needed',
      nodes: { 'IV.A.1': 'unknown', 'IV.A': 'unknown' },
    });
    const [d] = await runScenario(service, f);
    expect(allResults(d!).find((r) => r.id === 'IV.A.1')?.conflict?.record.state).toBe('not-met');
  });
});
