import { describe, expect, test } from 'vitest';
import { INFORMATION_ORIGIN } from '../src/rules/information-origin.js';
import { shippedRegistry } from './support/app.js';
import { allResults, runScenario, scenarioFiles, type ScenarioFixture } from './support/scenarios.js';

/**
 * Issue 12 item 5 with ruling R3: the next sign reads the DTR information origin of each answer. An `auto`
 * answer was pre-filled from the record, so it agrees with the record by construction; when the record has
 * changed since and says otherwise, the record decides (with a note), never a contradiction. An `override`,
 * `manual` or unmarked answer is the clinician's: against the record it is a contradiction and the order pends.
 */

const service = shippedRegistry().get('cryoablation-order-sign')!;
const SCT_RADIATION = '33195004';
// Prostate cancer on surveillance, lung SBRT in 2024 (another cancer), primary therapy (IV.A.1) attested "yes".
const LUNG = 'r13-lung-sbrt-other-cancer-primary-therapy-covered';

function scenario(name: string): ScenarioFixture {
  const s = scenarioFiles().find((x) => x.name === name);
  if (!s) throw new Error(`no scenario ${name}`);
  return structuredClone(s.fixture);
}

type Rec = Record<string, any>;

/** The lung SBRT tied to the prostate cancer: the record now says IV.A.1 (cryoablation as primary therapy) is not met. */
function radiationForProstate(fixture: ScenarioFixture): void {
  const procedures = fixture.request['prefetch']['procedures'].entry.map((e: Rec) => e['resource']);
  const radiation = procedures.find((p: Rec) => p['code'].coding.some((c: Rec) => c['code'] === SCT_RADIATION));
  radiation['reasonCode'] = [{ coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'C61' }] }];
}

/** Every QuestionnaireResponse of the prefetch, wherever it is. */
function responses(fixture: ScenarioFixture): Rec[] {
  const out: Rec[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') {
      if ((v as Rec)['resourceType'] === 'QuestionnaireResponse') out.push(v);
      else Object.values(v).forEach(visit);
    }
  };
  visit(fixture.request['prefetch']);
  return out;
}

/** Marks the answers to `linkId` with an information origin (override and manual with an author, as dtrx-1 asks). */
function markAnswer(fixture: ScenarioFixture, linkId: string, source: 'auto' | 'override' | 'manual'): number {
  let marked = 0;
  const author = {
    url: 'author',
    extension: [{ url: 'practitioner', valueReference: { reference: 'Practitioner/p1' } }],
  };
  const visit = (items: Rec[] | undefined): void => {
    for (const item of items ?? []) {
      for (const answer of item['answer'] ?? []) {
        if (item['linkId'] === linkId) {
          answer['extension'] = [
            {
              url: INFORMATION_ORIGIN,
              extension: [{ url: 'source', valueCode: source }, ...(source === 'auto' ? [] : [author])],
            },
          ];
          marked++;
        }
        visit(answer['item']);
      }
      visit(item['item']);
    }
  };
  for (const qr of responses(fixture)) visit(qr['item']);
  return marked;
}

async function node(fixture: ScenarioFixture, id: string) {
  const [d] = await runScenario(service, fixture);
  return { outcome: d!.outcome, result: allResults(d!).find((r) => r.id === id)! };
}

describe('the next sign reads information origin (issue 12 item 5, ruling R3)', () => {
  test('the scenario as written: the attested "yes" is unmarked and decides where the record is silent', async () => {
    const f = scenario(LUNG);
    expect(markAnswer(structuredClone(f), 'IV.A.1', 'auto')).toBe(1);
    const { outcome, result } = await node(f, 'IV.A.1');
    expect(outcome).toBe('covered');
    expect(result).toMatchObject({ state: 'met', decidedBy: 'attestation' });
  });

  test.each(['override', 'manual'] as const)(
    'an %s "yes" against the record is a contradiction: the order pends',
    async (source) => {
      const f = scenario(LUNG);
      radiationForProstate(f);
      markAnswer(f, 'IV.A.1', source);
      const { outcome, result } = await node(f, 'IV.A.1');
      expect(outcome).toBe('documentation-needed');
      expect(result).toMatchObject({
        state: 'unknown',
        decidedBy: 'conflict',
        conflict: { record: { state: 'not-met' }, attestation: { state: 'met' } },
      });
    },
  );

  test('an unmarked "yes" against the record is the clinician\'s too: a contradiction', async () => {
    const f = scenario(LUNG);
    radiationForProstate(f);
    expect((await node(f, 'IV.A.1')).result.decidedBy).toBe('conflict');
  });

  test('an auto "yes" the record now contradicts: the record decides, with a note, no conflict', async () => {
    const f = scenario(LUNG);
    radiationForProstate(f);
    markAnswer(f, 'IV.A.1', 'auto');
    const { result } = await node(f, 'IV.A.1');
    expect(result).toMatchObject({ state: 'not-met', decidedBy: 'record' });
    expect(result.conflict).toBeUndefined();
    expect(result.notes.join(' ')).toMatch(
      /pre-filled answer "yes" .* came from the record, which has changed since: the record decides/,
    );
  });

  test('an auto answer that agrees with the record: the record decides, the kept answer shown as pre-filled', async () => {
    const f = scenario(LUNG);
    radiationForProstate(f);
    const qr = responses(f)[0]!;
    const flip = (items: Rec[] | undefined): void => {
      for (const item of items ?? []) {
        for (const a of item['answer'] ?? []) if (item['linkId'] === 'IV.A.1') a['valueBoolean'] = false;
        flip(item['item']);
      }
    };
    flip(qr['item']);
    markAnswer(f, 'IV.A.1', 'auto');
    const { result } = await node(f, 'IV.A.1');
    expect(result).toMatchObject({ state: 'not-met', decidedBy: 'record' });
    expect(result.evidence.map((e) => e.summary).join(' ')).toMatch(
      /pre-filled from the record, kept and attested: "no"/,
    );
  });
});
