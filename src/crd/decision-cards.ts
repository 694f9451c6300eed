import { randomUUID } from 'node:crypto';
import type { Card } from './hook-response.js';
import type { Coding } from '../fhir/coding.js';
import type { OrderDecision, Outcome, SectionEvaluation } from '../rules/decision.js';
import type { NodeResult } from '../rules/evaluate.js';
import type { PolicyNode } from '../rules/policy.js';
import { fill, type CardTexts } from './card-texts.js';
import { ASSOCIATED_RESOURCE, cardSource, type CardType, type ServiceSource } from './cards.js';

/** The clinician's view of a decision: one card per order in scope, and the prior-authorization instructions. */

export interface OrderView {
  readonly decision: OrderDecision;
  /** How the order is named for clinicians: its text, else the code's display. */
  readonly label: string;
  readonly codings: readonly Coding[];
  /** Whether the order's code also covers methods other than the one the policy governs (the card then says so). */
  readonly methodNote: boolean;
}

export interface CardContext {
  readonly source: ServiceSource;
  readonly texts: CardTexts;
  /** The policy's own prior-authorization sentence, quoted on the instructions card. */
  readonly priorAuthorizationText: string;
  /** The policy page; a criterion's anchor is appended as #id. */
  readonly policyUrl: string;
  readonly unavailableData: readonly { description: string; reason: string }[];
  /** The policy's nodes, for their words and whether a group is all-of or any-of. */
  readonly nodes: ReadonlyMap<string, PolicyNode>;
}

const SUMMARY_MAX = 139;
const TOPIC: Record<Outcome, CardType> = {
  covered: 'coverage-info',
  'documentation-needed': 'coverage-info',
  'no-coverage': 'coverage-info',
  'not-medically-necessary': 'guideline',
  investigative: 'guideline',
};

const oneLine = (t: string) => t.replace(/\s+/g, ' ').trim();

function primaryCode(view: OrderView): string {
  return view.codings[0]?.code ?? '';
}

/** How an exclusion is named in text: its id without its group prefix (EX.I → "I"). */
export function exclusionName(id: string): string {
  return id.includes('.') ? id.slice(id.indexOf('.') + 1) : id;
}

/** An outline label: every segment a roman numeral, a capital letter or a number (IV.B.3); internal ids are not. */
const LABEL_SEGMENT = /^(?:[IVXLC]+|[A-Z]|\d+)$/;
export function policyLabel(id: string): string | undefined {
  if (id.split('.').every((s) => LABEL_SEGMENT.test(s))) return id;
  const rest = exclusionName(id);
  return rest !== id &&
    rest.split('.').every((s) => LABEL_SEGMENT.test(s)) &&
    /^[A-Z]+$/.test(id.split('.')[0] ?? '') &&
    id.split('.').length === 2
    ? `exclusion ${rest}`
    : undefined;
}

/** A criterion as clinicians read it: its policy label (linked) and words, or its words alone. */
export function criterionName(r: { id: string; text: string }, link: (id: string) => string): string {
  const words = oneLine(r.text).replace(/[.;:]$/, '');
  const label = policyLabel(r.id);
  return label ? `[${label}](${link(r.id)}) — ${words}` : words;
}

/** A criterion named in a summary: its label, else its words. */
const summaryName = (r: { id: string; text: string }) =>
  policyLabel(r.id) ??
  oneLine(r.text)
    .replace(/[.;:]$/, '')
    .replace(/^[A-Z](?=[a-z])/, (c) => c.toLowerCase());

/** Criteria named in a summary: as many as fit in 40 characters, then how many more (the detail lists them all). */
function summaryNames(nodes: readonly { id: string; text: string }[]): string {
  const names = nodes.map(summaryName);
  let shown = 1;
  while (shown < names.length && names.slice(0, shown + 1).join(', ').length <= 40) shown += 1;
  return shown >= names.length
    ? names.join(', ')
    : `${names.slice(0, shown).join(', ')} and ${names.length - shown} more`;
}

const evidenceText = (r: NodeResult) => r.evidence.map((e) => e.summary).join('; ');

interface Render {
  readonly link: (id: string) => string;
  readonly kindOf: (id: string) => 'all' | 'any' | 'leaf';
  readonly open: ReadonlySet<string>;
}

function conflictLines(d: OrderDecision, r: Render): string[] {
  const conflicts = d.toDocument.filter((n) => n.conflict);
  if (conflicts.length === 0) return [];
  return [
    '**The record and the attested answer disagree** — correct the record or the answer, or attach the records to the prior-authorization request:',
    '',
    ...conflicts.map((n) => {
      const c = n.conflict!;
      const shows = c.record.evidence.map((e) => e.summary).join('; ') || 'the record';
      return `- ${criterionName(n, r.link)}: the record shows ${shows} (${c.record.state === 'met' ? 'criterion met' : 'criterion not met'}); ${c.attestation.summary}`;
    }),
    '',
  ];
}

const asked = (n: NodeResult) => oneLine(n.question ?? n.text);

/** The open questions of a group, grouped by alternative path for any-of and marked all-needed for all-of. */
function openLines(res: NodeResult, r: Render, depth: number): string[] {
  const pad = '  '.repeat(depth);
  const children = res.children.filter((c) => hasOpen(c, r));
  return children.flatMap((c) => {
    if (c.children.length === 0) return [`${pad}- ${criterionName(c, r.link)}: ${asked(c)}`];
    const how = r.kindOf(c.id) === 'any' ? 'one of these suffices' : 'every answer below is needed';
    return [`${pad}- ${criterionName(c, r.link)} — ${how}:`, ...openLines(c, r, depth + 1)];
  });
}

function hasOpen(n: NodeResult, r: Render): boolean {
  if (n.children.length === 0) return r.open.has(n.id) && !n.conflict;
  return n.children.some((c) => hasOpen(c, r));
}

function sectionHeading(s: SectionEvaluation, r: Render): string {
  return `**Section ${criterionName(s.result, r.link)}**`;
}

function documentationLines(d: OrderDecision, r: Render): string[] {
  const inTrees = new Set<string>();
  const blocks = d.sections.flatMap((s) => {
    const lines: string[] = [];
    if (r.open.has(s.indication.id) && !s.indication.conflict) {
      inTrees.add(s.indication.id);
      lines.push(`- Is this order for ${criterionName(s.result, r.link)}? (the questionnaire's indication question)`);
    }
    for (const n of walkAll(s.result)) if (r.open.has(n.id)) inTrees.add(n.id);
    let how = '';
    if (s.result.children.length === 0 && r.open.has(s.result.id) && !s.result.conflict)
      lines.push(`- ${asked(s.result)}`);
    else if (hasOpen(s.result, r)) {
      how = r.kindOf(s.result.id) === 'any' ? ': one of these paths suffices' : ': every answer below is needed';
      lines.push(...openLines(s.result, r, 0));
    }
    return lines.length > 0 ? [`${sectionHeading(s, r)}${how}`, '', ...lines, ''] : [];
  });
  const others = d.toDocument.filter((n) => !inTrees.has(n.id) && !n.conflict);
  return [
    ...(blocks.length > 0 || others.length > 0 ? ['**To document**', ''] : []),
    ...others.map(
      (n) => `- ${criterionName(n, r.link)}${n.question ? `: ${asked(n)}` : ' — not shown by the record or the order'}`,
    ),
    ...(others.length > 0 ? [''] : []),
    ...blocks,
  ];
}

function* walkAll(n: NodeResult): Generator<NodeResult> {
  yield n;
  for (const c of n.children) yield* walkAll(c);
}

/** The met leaves of a met node that show why it is met (the met alternatives of an any-of). */
function metLeaves(n: NodeResult, kindOf: Render['kindOf']): NodeResult[] {
  if (n.state !== 'met') return [];
  if (n.children.length === 0) return [n];
  const met = n.children.filter((c) => c.state === 'met');
  return (kindOf(n.id) === 'any' ? met.slice(0, met.length) : met).flatMap((c) => metLeaves(c, kindOf));
}

function coveredLines(d: OrderDecision, r: Render): string[] {
  return d.sections
    .filter((s) => s.applicable && s.result.state === 'met')
    .flatMap((s) => {
      const how = r.kindOf(s.result.id) === 'any' ? 'met through' : 'every criterion met';
      return [
        `Meets **section ${criterionName(s.result, r.link)}** — ${how}:`,
        '',
        ...metLeaves(s.result, r.kindOf).map(
          (n) => `- ${criterionName(n, r.link)}${evidenceText(n) ? `: ${evidenceText(n)}` : ''}`,
        ),
        ...(s.indication.decidedBy === 'attestation' ? [`- Indication: ${evidenceText(s.indication)}`] : []),
        '',
      ];
    });
}

function failedLines(d: OrderDecision, r: Render): string[] {
  return [
    '**Not met:**',
    '',
    ...d.failed.map(
      (n) => `- ${criterionName(n, r.link)} — not met${evidenceText(n) ? ` on: ${evidenceText(n)}` : ''}`,
    ),
    '',
  ];
}

function exclusionLines(d: OrderDecision, r: Render): string[] {
  return d.exclusions
    .filter((e) => e.state === 'met')
    .flatMap((e) => {
      const leaves = [...walkAll(e)].filter((n) => n.children.length === 0 && n.evidence.length > 0 && n.id !== e.id);
      const evidence = [...new Set([e, ...leaves].flatMap((n) => n.evidence.map((x) => x.summary)))].join('; ');
      return [`- ${criterionName(e, r.link)}${evidence ? `: ${evidence}` : ''}`];
    });
}

const DECISION_WORDS: Record<Outcome, string> = {
  covered: 'covered',
  'documentation-needed': 'documentation needed',
  'not-medically-necessary': 'not medically necessary',
  investigative: 'investigative (not covered)',
  'no-coverage': 'no active coverage',
};

/** The one thing to do for a documentation-needed order, as the summary says it. */
function todo(d: OrderDecision, t: CardTexts): string {
  const conflicts = d.toDocument.filter((n) => n.conflict);
  if (conflicts.length > 0) return fill(t.todo.conflict, { criteria: summaryNames(conflicts) });
  if (d.incompleteData.length > 0) return t.todo.data;
  if (d.toDocument.length > 0)
    return fill(t.todo.questions, { count: String(d.toDocument.length), s: d.toDocument.length === 1 ? '' : 's' });
  return t.todo.data;
}

export function decisionCard(view: OrderView, ctx: CardContext): Card {
  const d = view.decision;
  const t = ctx.texts;
  const link = (id: string) => `${ctx.policyUrl}#${id}`;
  const code = primaryCode(view);
  const procedure = t.procedureNames[code] ?? view.label;
  const criteria = d.decisive;
  const named = criteria.map((id) => ({ id, text: ctx.nodes.get(id)?.text ?? id }));
  const summary = fill(
    t.summaries[d.outcome],
    {
      procedure,
      code,
      policy: t.policyName,
      criteria: summaryNames(named),
      exclusion: criteria[0] ? exclusionName(criteria[0]) : '',
      plan: ctx.source.label,
      todo: d.outcome === 'documentation-needed' ? todo(d, t) : '',
    },
    SUMMARY_MAX,
  );
  const r: Render = {
    link,
    kindOf: (id) => ctx.nodes.get(id)?.kind ?? 'leaf',
    open: new Set(d.toDocument.map((n) => n.id)),
  };
  const codes = view.codings
    .map((c) => c.code)
    .filter(Boolean)
    .join(', ');
  const body: Record<Outcome, () => string[]> = {
    covered: () => coveredLines(d, r),
    'documentation-needed': () => [...conflictLines(d, r), ...documentationLines(d, r)],
    'not-medically-necessary': () => failedLines(d, r),
    investigative: () => [...exclusionLines(d, r), ''],
    'no-coverage': () => [],
  };
  const detail = [
    `**Decision: ${DECISION_WORDS[d.outcome]}** — ${view.label} (${t.codeLabel} ${codes})${d.reference ? `, order ${d.reference}` : ''}`,
    '',
    ...(view.methodNote ? [fill(t.methodNote, { code }), ''] : []),
    ...body[d.outcome](),
    ...(ctx.unavailableData.length > 0 && d.incompleteData.length > 0
      ? ['**Not available from the EHR**', '', ...ctx.unavailableData.map((u) => `- ${u.description}: ${u.reason}`), '']
      : []),
    `**Next step:** ${oneLine(t.nextSteps[d.outcome])}`,
  ].join('\n');
  const sections = d.sections.filter((s) => s.applicable).map((s) => s.id);
  // An order whose code has no section (a code of any method whose method is asked) links to the exclusion it may fall under.
  const exclusion =
    d.outcome === 'investigative'
      ? criteria[0]
      : d.sections.length === 0
        ? (d.exclusions.find((e) => e.state !== 'not-met') ?? d.exclusions[0])?.id
        : undefined;
  const anchor = exclusion ?? sections[0] ?? d.sections[0]?.id;
  const investigative = d.outcome === 'investigative' && d.reference;
  return {
    uuid: randomUUID(),
    summary,
    detail,
    indicator: d.outcome === 'not-medically-necessary' || d.outcome === 'investigative' ? 'warning' : 'info',
    source: cardSource(ctx.source, TOPIC[d.outcome]),
    links: [
      {
        label: `${t.policyName}${exclusion ? `, exclusion ${exclusionName(exclusion)}` : anchor ? `, section ${anchor}` : ''}`,
        url: anchor ? link(anchor) : ctx.policyUrl,
        type: 'absolute',
      },
    ],
    ...(investigative
      ? {
          suggestions: [
            {
              label: `Remove the ${procedure.toLowerCase()} order`,
              uuid: randomUUID(),
              isRecommended: true,
              actions: [
                {
                  type: 'delete' as const,
                  description: `Remove the draft order for ${view.label}`,
                  resourceId: d.reference,
                },
              ],
            },
          ],
          selectionBehavior: 'at-most-one' as const,
          overrideReasons: t.overrideReasons.map((o) => ({
            system: `${ctx.policyUrl}/override-reason`,
            code: o.code,
            display: o.display,
          })),
        }
      : {}),
    ...(d.reference ? { extension: { [ASSOCIATED_RESOURCE]: [d.reference] } } : {}),
  };
}

/** Instructions card (text only): how to request prior authorization for the orders that need it. */
export function priorAuthorizationCard(views: readonly OrderView[], ctx: CardContext): Card | undefined {
  const needing = views.filter(
    (v) =>
      v.decision.priorAuthorizationRequired &&
      (v.decision.outcome === 'covered' || v.decision.outcome === 'documentation-needed'),
  );
  if (needing.length === 0) return undefined;
  const pa = ctx.texts.priorAuthorization;
  const label = ctx.texts.codeLabel;
  const procedures = needing.map((v) => `${label} ${primaryCode(v)}`).join(', ');
  const references = needing.flatMap((v) => (v.decision.reference ? [v.decision.reference] : []));
  return {
    uuid: randomUUID(),
    summary: fill(pa.summary, { plan: ctx.source.label, procedures }, SUMMARY_MAX),
    detail: [
      `Prior authorization is required (${ctx.texts.policyName}: "${ctx.priorAuthorizationText}") for:`,
      '',
      ...needing.map((v) => `- **${v.label}** (${label} ${v.codings.map((c) => c.code).join(', ')})`),
      '',
      `Request it on the provider portal (${pa.portal}) or by phone at ${pa.phone}.`,
      '',
      oneLine(pa.turnaround),
    ].join('\n'),
    indicator: 'info',
    source: cardSource(ctx.source, 'coverage-info'),
    ...(references.length > 0 ? { extension: { [ASSOCIATED_RESOURCE]: references } } : {}),
  };
}

/** One card when the member has no coverage with the plan: no assertion can be made for any order. */
export function noCoverageCard(views: readonly OrderView[], ctx: CardContext): Card {
  const references = views.flatMap((v) => (v.decision.reference ? [v.decision.reference] : []));
  const first = views[0];
  const code = first ? primaryCode(first) : '';
  return {
    uuid: randomUUID(),
    summary: fill(
      ctx.texts.summaries['no-coverage'],
      {
        plan: ctx.source.label,
        procedure: first ? (ctx.texts.procedureNames[code] ?? first.label) : 'this order',
        code,
      },
      SUMMARY_MAX,
    ),
    detail: [
      `The plan has no active coverage on record for this member, so it cannot assert coverage for:`,
      '',
      ...views.map((v) => `- **${v.label}** (${ctx.texts.codeLabel} ${v.codings.map((c) => c.code).join(', ')})`),
      '',
      `**Next step:** ${oneLine(ctx.texts.nextSteps['no-coverage'])}`,
    ].join('\n'),
    indicator: 'warning',
    source: cardSource(ctx.source, 'coverage-info'),
    ...(references.length > 0 ? { extension: { [ASSOCIATED_RESOURCE]: references } } : {}),
  };
}
