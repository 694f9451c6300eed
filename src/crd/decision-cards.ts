import { randomUUID } from 'node:crypto';
import type { Card } from './hook-response.js';
import type { Coding } from '../fhir/coding.js';
import type { OrderDecision, Outcome } from '../rules/decision.js';
import type { NodeResult } from '../rules/evaluate.js';
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
}

const SUMMARY_MAX = 139;
const STATE_LABEL: Record<NodeResult['state'], string> = { met: 'Met', 'not-met': 'Not met', unknown: 'Needs documentation' };
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

function evidenceText(r: NodeResult): string {
  const parts = r.evidence.map((e) => e.summary);
  return [...parts, ...r.notes].join('; ');
}

function leafLines(r: NodeResult, link: (id: string) => string, depth = 0): string[] {
  const pad = '  '.repeat(depth);
  const evidence = evidenceText(r);
  const line = `${pad}- **${STATE_LABEL[r.state]}** — [${r.id}](${link(r.id)}) ${oneLine(r.text)}${evidence ? `: ${evidence}` : ''}`;
  return [line, ...r.children.flatMap((c) => leafLines(c, link, depth + 1))];
}

function sectionBlock(d: OrderDecision, link: (id: string) => string): string[] {
  const applicable = d.sections.filter((s) => s.applicable);
  if (applicable.length === 0) {
    return [
      'No section of the policy could be matched to a coded indication for this order.',
      '',
      ...d.sections.map((s) => `- **${STATE_LABEL[s.indication.state]}** — [${s.id}](${link(s.id)}) ${oneLine(s.indication.text)}`),
    ];
  }
  return applicable.flatMap((s) => [
    `**Section ${s.id}. ${oneLine(s.result.text)}** — ${STATE_LABEL[s.result.state].toLowerCase()}`,
    '',
    ...(s.result.children.length > 0 ? s.result.children.flatMap((c) => leafLines(c, link)) : leafLines(s.result, link)),
    '',
  ]);
}

function documentationBlock(d: OrderDecision): string[] {
  if (d.toDocument.length === 0) return [];
  return ['**To document**', '', ...d.toDocument.map((n) => `- ${n.id}: ${oneLine(n.question ?? n.text)}`), ''];
}

function exclusionBlock(d: OrderDecision, link: (id: string) => string): string[] {
  return d.exclusions
    .filter((e) => e.state === 'met')
    .map((e) => `- **Investigative** — [${e.id}](${link(e.id)}) ${oneLine(e.text)}${evidenceText(e) ? `: ${evidenceText(e)}` : ''}`);
}

export function decisionCard(view: OrderView, ctx: CardContext): Card {
  const d = view.decision;
  const t = ctx.texts;
  const link = (id: string) => `${ctx.policyUrl}#${id}`;
  const code = primaryCode(view);
  const procedure = t.procedureNames[code] ?? view.label;
  const criteria = d.decisive;
  const summary = fill(
    t.summaries[d.outcome],
    { procedure, code, policy: t.policyName, criteria: criteria.join(', '), exclusion: criteria[0] ? exclusionName(criteria[0]) : '', plan: ctx.source.label },
    SUMMARY_MAX,
  );
  const codes = view.codings.map((c) => c.code).filter(Boolean).join(', ');
  const detail = [
    `**${view.label}** (${t.codeLabel} ${codes})${d.reference ? ` — order ${d.reference}` : ''}`,
    '',
    ...(view.methodNote ? [fill(t.methodNote, { code }), ''] : []),
    ...(d.outcome === 'investigative' ? [...exclusionBlock(d, link), ''] : d.outcome === 'no-coverage' ? [] : sectionBlock(d, link)),
    ...documentationBlock(d),
    ...(ctx.unavailableData.length > 0 && d.incompleteData.length > 0
      ? ['**Not available from the EHR**', '', ...ctx.unavailableData.map((u) => `- ${u.description}: ${u.reason}`), '']
      : []),
    `**Next step:** ${oneLine(t.nextSteps[d.outcome])}`,
  ].join('\n');
  const sections = d.sections.filter((s) => s.applicable).map((s) => s.id);
  const exclusion = d.outcome === 'investigative' ? criteria[0] : undefined;
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
              actions: [{ type: 'delete' as const, description: `Remove the draft order for ${view.label}`, resourceId: d.reference! }],
            },
          ],
          selectionBehavior: 'at-most-one' as const,
          overrideReasons: t.overrideReasons.map((r) => ({ system: `${ctx.policyUrl}/override-reason`, code: r.code, display: r.display })),
        }
      : {}),
    ...(d.reference ? { extension: { [ASSOCIATED_RESOURCE]: [d.reference] } } : {}),
  };
}

/** Instructions card (text only): how to request prior authorization for the orders that need it. */
export function priorAuthorizationCard(views: readonly OrderView[], ctx: CardContext): Card | undefined {
  const needing = views.filter((v) => v.decision.priorAuthorizationRequired && (v.decision.outcome === 'covered' || v.decision.outcome === 'documentation-needed'));
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
      { plan: ctx.source.label, procedure: first ? (ctx.texts.procedureNames[code] ?? first.label) : 'this order', code },
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
