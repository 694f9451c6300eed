/**
 * An order-sign answer as an EHR shows it: each card (indicator, summary, detail, links, suggestions, override
 * reasons) and the coverage-information recorded on each order.
 */
import { isRecord } from '../cli.js';
import type { Json } from './client.js';
import { assertionsFor, draftOrderRefs, partsOf } from './outcome.js';

const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v));

const INDICATORS: Record<string, string> = { info: 'INFO', warning: 'WARNING', critical: 'CRITICAL' };

/** Markdown as plain terminal text: emphasis dropped, links as "text <url>". */
function plain(markdown: string): string {
  return markdown
    .replace(/\*\*(.+?)\*\*/g, '$1')
    .replace(/\[([^\]]+)\]\(([^)]+)\)/g, '$1 <$2>')
    .replace(/^- /gm, '• ');
}

const indent = (text: string, by = '  │ '): string =>
  text
    .split('\n')
    .map((l) => `${by}${l}`.trimEnd())
    .join('\n');

function suggestionLine(s: Json): string {
  const actions = asArray(s['actions'])
    .filter(isRecord)
    .map((a) =>
      `${str(a['type'])} ${str(a['resourceId'] ?? (isRecord(a['resource']) ? `${str(a['resource']['resourceType'])}/${str(a['resource']['id'])}` : ''))}`.trim(),
    );
  return `[${s['isRecommended'] ? '*' : ' '}] ${str(s['label'])}${actions.length > 0 ? ` — ${actions.join('; ')}` : ''}`;
}

export function renderCard(card: Json, n: number): string {
  const source = isRecord(card['source']) ? card['source'] : {};
  const topic = isRecord(source['topic']) ? str(source['topic']['display'] ?? source['topic']['code']) : '';
  const lines = [
    `  ┌─ ${n}. [${INDICATORS[str(card['indicator'])] ?? str(card['indicator']).toUpperCase()}] ${str(card['summary'])}`,
  ];
  lines.push(`  │ from ${str(source['label'])}${topic ? ` · ${topic}` : ''}`);
  if (typeof card['detail'] === 'string') lines.push('  │', indent(plain(card['detail'])));
  const links = asArray(card['links']).filter(isRecord);
  if (links.length > 0)
    lines.push(
      '  │',
      '  │ Links:',
      ...links.map((l) => `  │   ${str(l['label'])} <${str(l['url'])}>${l['type'] === 'smart' ? ' (SMART app)' : ''}`),
    );
  const suggestions = asArray(card['suggestions']).filter(isRecord);
  if (suggestions.length > 0) {
    lines.push(
      '  │',
      `  │ Suggestions (${str(card['selectionBehavior']) || 'any'}):`,
      ...suggestions.map((s) => `  │   ${suggestionLine(s)}`),
    );
  }
  const reasons = asArray(card['overrideReasons']).filter(isRecord);
  if (reasons.length > 0)
    lines.push(
      '  │',
      '  │ Override reasons:',
      ...reasons.map((r) => `  │   ( ) ${str(r['display'])} [${str(r['code'])}]`),
    );
  lines.push('  └─');
  return lines.join('\n');
}

/** The coverage-information of each draft order: coverage, covered, pa-needed, doc-needed, questionnaire, reason. */
export function renderCoverageInformation(request: Json, answer: Json): string {
  const lines = ['Coverage information:'];
  for (const ref of draftOrderRefs(request)) {
    const assertions = assertionsFor(answer, ref);
    if (assertions.length === 0) {
      lines.push(`  ${ref}: none`);
      continue;
    }
    for (const a of assertions) {
      const p = partsOf(a);
      const coverage = isRecord(p.get('coverage')) ? str((p.get('coverage') as Json)['reference']) : '';
      const codes = ['covered', 'pa-needed', 'doc-needed', 'doc-purpose', 'info-needed']
        .filter((k) => p.has(k))
        .map((k) => `${k}=${str(p.get(k))}`);
      const billing = isRecord(p.get('billingCode')) ? str((p.get('billingCode') as Json)['code']) : '';
      lines.push(`  ${ref} · ${coverage}${billing ? ` · billing code ${billing}` : ''} · ${str(p.get('date'))}`);
      lines.push(`    ${codes.join('  ')}`);
      const reason = p.get('reason');
      if (isRecord(reason)) lines.push(`    reason: ${str(reason['text'])}`);
      if (p.has('questionnaire')) lines.push(`    questionnaire: ${str(p.get('questionnaire'))}`);
      lines.push(`    assertion id: ${str(p.get('coverage-assertion-id'))}`);
    }
  }
  return lines.join('\n');
}

export function renderAnswer(request: Json, answer: Json): string {
  const cards = asArray(answer['cards']).filter(isRecord);
  const shown = cards.length === 0 ? ['  (no cards)'] : cards.map((c, i) => renderCard(c, i + 1));
  return [`Cards (${cards.length}):`, ...shown, '', renderCoverageInformation(request, answer), ''].join('\n');
}
