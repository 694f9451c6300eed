import type { OrderDecision } from './decision.js';
import type { NodeResult } from './evaluate.js';

/** A plain-text rendering of a decision: every node with its state, what decided it and its evidence. */

const MARK: Record<NodeResult['state'], string> = { met: '[met]    ', 'not-met': '[not met]', unknown: '[unknown]' };

function nodeLines(r: NodeResult, depth: number): string[] {
  const pad = '  '.repeat(depth);
  const by = r.decidedBy === 'attestation' ? ' (attested)' : '';
  const lines = [`${pad}${MARK[r.state]} ${r.id}  ${r.text.replace(/\s+/g, ' ')}${by}`];
  for (const e of r.evidence) lines.push(`${pad}            - ${e.reference ? `${e.reference}: ` : ''}${e.summary}`);
  for (const n of r.notes) lines.push(`${pad}            ! ${n}`);
  return [...lines, ...r.children.flatMap((c) => nodeLines(c, depth + 1))];
}

export function explainDecision(label: string, d: OrderDecision): string {
  const lines = [
    `${label}: ${d.outcome.toUpperCase()}${d.metSections.length > 0 ? ` (met: ${d.metSections.join(', ')})` : ''}`,
    '',
    'General rules',
    ...d.general.flatMap((g) => nodeLines(g, 1)),
    'Exclusions',
    ...d.exclusions.flatMap((e) => nodeLines(e, 1)),
    'Definitions',
    ...d.definitions.flatMap((e) => nodeLines(e, 1)),
  ];
  for (const s of d.sections) {
    lines.push(
      `Section ${s.id}${s.applicable ? '' : ' (does not apply)'}`,
      ...nodeLines(s.indication, 1),
      ...nodeLines(s.result, 1),
    );
  }
  if (d.toDocument.length > 0)
    lines.push('To document', ...d.toDocument.map((n) => `  ${n.id}: ${n.question ?? n.text}`));
  if (d.failed.length > 0) lines.push('Not met', ...d.failed.map((n) => `  ${n.id}: ${n.text.replace(/\s+/g, ' ')}`));
  if (d.incompleteData.length > 0) lines.push(`Incomplete data: ${d.incompleteData.join(', ')}`);
  if (d.errors.length > 0) lines.push(`Definitions that could not be evaluated: ${d.errors.join('; ')}`);
  return lines.join('\n');
}
