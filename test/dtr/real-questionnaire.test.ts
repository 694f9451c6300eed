import { describe, expect, test } from 'vitest';
import { evaluationFromDecision, type DecisionTrace, type TraceNode } from '../../src/dtr/evaluation.js';
import { prefilledResponse } from '../../src/dtr/prefill.js';
import { INDICATION_LINK_ID } from '../../src/rules/decision.js';
import { loadPolicy, type PolicyNode } from '../../src/rules/policy.js';
import { buildQuestionnaire } from '../../src/rules/questionnaire.js';
import { checkQuestionnaireResponse } from '../support/dtr-profiles.js';

/**
 * The builder on the Questionnaires the engine really generates, for each policy folder: a trace in which the
 * record indicates the first section and decides every other criterion of it, one way or the other.
 */

const FOLDERS = ['hooks/cryoablation', 'test/hooks/lumbar-mri'];

function traceOf(node: PolicyNode, decide: (leaf: PolicyNode) => TraceNode['state']): TraceNode {
  const children = node.children.map((c) => traceOf(c, decide));
  const state = node.kind === 'leaf' ? decide(node) : 'unknown';
  return {
    id: node.id,
    state,
    decidedBy: node.kind === 'leaf' && state !== 'unknown' ? 'record' : 'children',
    evidence: state === 'unknown' ? [] : [{ reference: `Observation/${node.id}`, summary: `evidence for ${node.id}` }],
    children,
  };
}

const leaves = (node: PolicyNode): PolicyNode[] => (node.kind === 'leaf' ? [node] : node.children.flatMap(leaves));

describe.each(FOLDERS)('%s', (folder) => {
  const loaded = loadPolicy(folder);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const policy = loaded.policy;
  const q = buildQuestionnaire(policy);
  const [first, ...rest] = policy.sections;
  if (!first) throw new Error('no section');
  let i = 0;
  const decide = (leaf: PolicyNode): TraceNode['state'] =>
    leaf.question ? (['met', 'not-met', 'unknown'] as const)[i++ % 3]! : 'unknown';
  const trace: DecisionTrace = {
    general: policy.general.map((n) => traceOf(n, () => 'met')),
    sections: [
      {
        id: first.node.id,
        indication: { ...traceOf(first.indication, () => 'met'), state: 'met', decidedBy: 'record' },
        result: traceOf(first.node, decide),
      },
      ...rest.map((s) => ({
        id: s.node.id,
        indication: { ...traceOf(s.indication, () => 'not-met'), state: 'not-met' as const, decidedBy: 'record' },
        result: traceOf(s.node, () => 'unknown'),
      })),
    ],
  };

  test('pre-fills exactly the record-decided criteria of the indicated section, within the profiles', () => {
    const qr = prefilledResponse({
      questionnaire: q,
      evaluation: evaluationFromDecision(trace),
      subject: { reference: 'Patient/p1' },
      coverages: [{ reference: 'Coverage/c1' }],
      orders: [{ reference: 'ServiceRequest/s1' }],
      intendedUse: ['withpa'],
      indicationLinkId: INDICATION_LINK_ID,
      authored: '2026-12-01T15:00:00Z',
    });
    expect(
      checkQuestionnaireResponse(qr as unknown as Record<string, unknown>, q as unknown as Record<string, unknown>),
    ).toEqual([]);
    const answered: string[] = [];
    const visit = (items: fhir4.QuestionnaireResponseItem[] | undefined) =>
      items?.forEach((it) => (it.answer && answered.push(it.linkId), visit(it.item)));
    visit(qr.item);
    const flat = (node: TraceNode): TraceNode[] => [node, ...node.children.flatMap(flat)];
    const decided = new Set(
      flat(trace.sections[0]!.result)
        .filter((n) => n.decidedBy === 'record')
        .map((n) => n.id),
    );
    const expected = leaves(first.node)
      .filter((l) => l.question && decided.has(l.id))
      .map((l) => l.id);
    expect(answered.sort()).toEqual([INDICATION_LINK_ID, ...expected].sort());
    expect(expected.length).toBeGreaterThan(0);
  });
});
