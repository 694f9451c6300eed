import { describe, expect, test } from 'vitest';
import { orderSign } from '../src/cds-hooks/order-sign.js';
import { configFrom } from '../src/server/config.js';
import type { Card } from '../src/crd/hook-response.js';
import { scenarioServices, policyScenarios } from './support/scenarios.js';

/**
 * Ruling R15, read the way the clinician reads it: every card of every scenario fixture of every policy, with link
 * targets removed (the words are what is read). No bare code, no internal id, no "met" next to "needs
 * documentation", the right all-of / any-of sentence, a not-medically-necessary card naming each failure's evidence.
 */

const services = scenarioServices();

/** What a clinician reads: the summary and the detail, markdown link targets dropped. */
const readable = (c: Card) => `${c.summary}\n${(c.detail ?? '').replace(/\]\([^)]*\)/g, ']')}`;

/** Node ids that are not policy labels (GEN.benefits, IV.B.primary-radiation, I.indication, EX.I.cryo). */
function internalIds(): RegExp {
  const ids = services
    .flatMap((s) => [...s.policy.nodes.keys()])
    .filter((id) => !/^(?:[IVXLC]+|[A-Z]|\d+)(?:\.(?:[IVXLC]+|[A-Z]|\d+))*$/.test(id));
  return new RegExp(`(?<![\\w.-])(${ids.map((i) => i.replace(/[.]/g, '\\.')).join('|')})(?![\\w.-])`);
}

/** Code-shaped tokens (ICD-10-CM, LOINC, SNOMED CT) that are not inside parentheses after a name. */
const BARE_CODE = /(?<![(\w./-])(?:[A-TV-Z]\d{2}(?:\.[0-9A-Z]{1,4})?|\d{4,5}-\d|\d{6,18})(?![\w./-])(?!\))/;

interface Read {
  readonly where: string;
  readonly outcome: string;
  readonly text: string;
  readonly sections: readonly { id: string; kind: string }[];
}

const cards: Promise<Read[]> = (async () => {
  const out: Read[] = [];
  for (const service of services) {
    for (const s of policyScenarios(service.folder)) {
      const result = await orderSign(service, structuredClone(s.fixture.request), {
        settings: configFrom({ CDS_FHIR_TIMEOUT_MS: '1000' }),
        fetch,
        now: () => new Date(`${s.fixture.evaluationDate}T12:00:00Z`),
      });
      if (!result.ok) continue;
      for (const c of result.response.cards) {
        const ref = c.extension?.['davinci-crd.associated-resource'] as string[] | undefined;
        const decision = result.decisions.find((d) => ref?.length === 1 && d.reference === ref[0]);
        if (!decision || /^Prior authorization/.test(c.summary)) continue;
        out.push({
          where: `${s.file}/${s.name} ${decision.reference ?? ''}`,
          outcome: decision.outcome,
          text: readable(c),
          sections: decision.sections.map((x) => ({ id: x.id, kind: service.policy.nodes.get(x.id)?.kind ?? 'leaf' })),
        });
      }
    }
  }
  return out;
})();

describe('cards read by a clinician (ruling R15), over every scenario', () => {
  test('there are cards of every decision to read', async () => {
    const outcomes = new Set((await cards).map((c) => c.outcome));
    expect([...outcomes].sort()).toEqual([
      'covered',
      'documentation-needed',
      'investigative',
      'no-coverage',
      'not-medically-necessary',
    ]);
  });

  test('no internal criterion id is shown', async () => {
    const pattern = internalIds();
    expect(
      (await cards).filter((c) => pattern.test(c.text)).map((c) => `${c.where}: ${pattern.exec(c.text)?.[0]}`),
    ).toEqual([]);
  });

  test('no bare code is shown (a code appears only in parentheses after its name)', async () => {
    const shown = (l: string) =>
      l
        .replace(/\([^()]*\)/g, '')
        .replace(/CPT [0-9A-Z, ]+/g, '')
        .replace(/\d{4}-\d{2}-\d{2}/g, '');
    const bare = (await cards).flatMap((c) =>
      c.text
        .split('\n')
        .filter((l) => BARE_CODE.test(shown(l)))
        .map((l) => `${c.where}: ${l}`),
    );
    expect(bare).toEqual([]);
  });

  test('a covered card lists nothing to document, and nothing is called met next to "needs documentation"', async () => {
    const all = await cards;
    expect(
      all
        .filter((c) => c.outcome === 'covered' && /To document|Needs documentation|disagree/.test(c.text))
        .map((c) => c.where),
    ).toEqual([]);
    expect(
      all
        .filter((c) => c.text.split('\n').some((l) => /\bmet\b/i.test(l) && /needs documentation/i.test(l)))
        .map((c) => c.where),
    ).toEqual([]);
  });

  test('a documentation-needed card says for each section with questions whether every answer is needed or one path suffices', async () => {
    const wrong = (await cards)
      .filter((c) => c.outcome === 'documentation-needed')
      .flatMap((c) =>
        c.text
          .split('\n')
          .filter(
            (l, i, lines) =>
              l.startsWith('**Section ') &&
              !(lines[i + 2]?.startsWith('- Is this order for') && (lines[i + 3] ?? '') === ''),
          )
          .filter((l) => {
            const id = /^\*\*Section \[([^\]]+)\]/.exec(l)?.[1];
            const kind = c.sections.find((s) => s.id === id)?.kind;
            if (kind === 'any') return !l.includes('one of these paths suffices');
            if (kind === 'all') return !l.includes('every answer below is needed');
            return false;
          })
          .map((l) => `${c.where}: ${l}`),
      );
    expect(wrong).toEqual([]);
  });

  test('a not-medically-necessary card names each failed criterion in words with the evidence it failed on', async () => {
    const nmn = (await cards).filter((c) => c.outcome === 'not-medically-necessary');
    expect(nmn.length).toBeGreaterThan(5);
    const vague = nmn.flatMap((c) =>
      c.text
        .split('\n')
        .filter((l) => / — not met/.test(l) && !/ — not met on: \S/.test(l))
        .map((l) => `${c.where}: ${l}`),
    );
    expect(vague).toEqual([]);
  });

  test('the summary says the decision and the one thing to do', async () => {
    const summaries = (await cards).map((c) => c.text.split('\n')[0] ?? '');
    expect(
      summaries.filter(
        (s) => !/^(Covered|Documentation needed|Not covered|Investigative|No active coverage)\b.*Next: \S/.test(s),
      ),
    ).toEqual([]);
  });
});
