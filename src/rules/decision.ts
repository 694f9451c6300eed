import { orderReference } from '../fhir/order.js';
import { INDICATION_LINK_ID, type Attestations } from './attestation.js';
import type { Environment } from './environment.js';
import { toEvidence } from './evidence.js';
import type { Coding } from '../fhir/coding.js';
import {
  attestedEvidence,
  contradiction,
  evaluateDefinitions,
  evaluateNode,
  failedLeaves,
  openQuestions,
  walk,
  type EvaluationContext,
  type NodeResult,
  type SharedDefinitions,
} from './evaluate.js';
import type { Policy, PolicyNode, PolicySection } from './policy.js';
import { evaluateSection, orderEvidence } from './section-evidence.js';

/**
 * The decision for one order:
 * - no-coverage: the coverage rule is not met;
 * - investigative: an exclusion is met (by the order's code, or a coded reason that matches no section; the
 *   catch-all exclusion stands aside when a named one applies);
 * - covered: an applicable section is met, every general rule is met and the data was complete;
 * - not-medically-necessary: a general rule is not met, or every candidate section is decided not met or does not
 *   apply (ruling R6: while another candidate's indication is unknown, the order is documentation-needed);
 * - documentation-needed: otherwise; the open questions say exactly what would decide it.
 * A section applies when its indication predicate is met. An indication predicate without a `notMet` of its own is
 * not met when the order states coded reasons and none matches it; with no coded reason it is unknown (absence
 * proves nothing). Predicates that combine the reason with the record declare their own `notMet`.
 */

export type Outcome = 'covered' | 'documentation-needed' | 'not-medically-necessary' | 'investigative' | 'no-coverage';

export { INDICATION_LINK_ID };

export interface SectionEvaluation {
  readonly id: string;
  readonly indication: NodeResult;
  readonly result: NodeResult;
  readonly applicable: boolean;
}

export interface OrderDecision {
  readonly reference?: string | undefined;
  readonly outcome: Outcome;
  readonly metSections: readonly string[];
  readonly general: readonly NodeResult[];
  readonly exclusions: readonly NodeResult[];
  readonly definitions: readonly NodeResult[];
  readonly sections: readonly SectionEvaluation[];
  /** Criteria to document: unknown leaves whose answer could change the decision. */
  readonly toDocument: readonly NodeResult[];
  /** Criteria that failed: not-met leaves of the applicable sections and of the general rules. */
  readonly failed: readonly NodeResult[];
  /**
   * The criteria that decided the outcome, as summaries and assertions name them: the met alternatives of a
   * section met through some of its alternatives (V.B), else the section (II); the failed criteria; the exclusion.
   */
  readonly decisive: readonly string[];
  readonly incompleteData: readonly string[];
  /** The Coverage an assertion would concern (active, or the inactive one on record); none when there is none. */
  readonly coverage?: fhir4.Coverage | undefined;
  readonly priorAuthorizationRequired: boolean;
  /** Definitions that could not be evaluated (they count as empty). */
  readonly errors: readonly string[];
}

export interface DecideInput {
  readonly policy: Policy;
  readonly order: Record<string, unknown> & { resourceType: string };
  readonly candidateSections: readonly string[];
  readonly env: Environment;
  readonly attestations: Attestations;
  readonly incompleteData: readonly string[];
  /** Order-independent definitions already computed for another order of the same request. */
  readonly shared?: SharedDefinitions;
}

/** How an attested indication is named: the section's heading, or the answer's own display. */
function indicationWords(answer: Coding, sections: readonly PolicySection[]): string {
  const section = sections.find((s) => s.node.id === answer.code);
  return section
    ? `the indication "${oneLine(section.indication.text)}"`
    : `another indication than the policy's${answer.display ? ` ("${oneLine(answer.display)}")` : ''}`;
}

const oneLine = (t: string) => t.replace(/\s+/g, ' ').trim();

function evaluateIndication(
  node: PolicyNode,
  sectionId: string,
  ctx: EvaluationContext,
  sections: readonly PolicySection[],
): NodeResult {
  const result = evaluateNode(node, ctx);
  if (result.state !== 'unknown') {
    // Ruling R3: an attested indication that contradicts the record's (this section attested where the record rules
    // it out, or none of the policy's sections where the record names this one) pends the indication.
    const answer = ctx.attestations.answer(INDICATION_LINK_ID);
    if (!answer || typeof answer.value === 'boolean') return result;
    const coding = answer.value;
    const attestsThis = coding.code === sectionId;
    const attestsNone = !sections.some((s) => s.node.id === coding.code);
    const disagrees = (result.state === 'not-met' && attestsThis) || (result.state === 'met' && attestsNone);
    if (!disagrees) return result;
    const attested = attestedEvidence(answer, indicationWords(coding, sections));
    return contradiction(
      { id: result.id, text: result.text, children: result.children },
      { state: result.state, evidence: result.evidence },
      { ...attested, state: attestsThis ? 'met' : 'not-met' },
      result.notes,
    );
  }
  const automatic = node.notMet === undefined;
  if (
    automatic &&
    ctx.env.vars['indicationSource'] === 'order' &&
    result.evidence.length === 0 &&
    result.notes.length === 0
  ) {
    const recordMatch = matchesRecord(node, ctx);
    if (recordMatch.length > 0) {
      return {
        ...result,
        evidence: recordMatch,
        notes: [
          'the reason on the order matches no heading, but a current diagnosis does: the indication is asked for',
        ],
      };
    }
    return {
      ...result,
      state: 'not-met',
      decidedBy: 'record',
      evidence: toEvidence(ctx.env.vars['indications'] as unknown[], ctx.displays),
      notes: ['the reasons stated on the order do not match this heading'],
    };
  }
  const answer = ctx.attestations.answer(INDICATION_LINK_ID);
  if (!answer || typeof answer.value === 'boolean') return result;
  const met = answer.value.code === sectionId;
  return {
    ...result,
    state: met ? 'met' : 'not-met',
    decidedBy: 'attestation',
    evidence: [attestedEvidence(answer, indicationWords(answer.value, sections))],
  };
}

/** Whether the indication predicate holds for the patient's current conditions rather than the order's reasons. */
function matchesRecord(node: PolicyNode, ctx: EvaluationContext): ReturnType<typeof toEvidence> {
  if (!node.met) return [];
  const env = { ...ctx.env, vars: { ...ctx.env.vars, indications: ctx.env.vars['conditions'] } };
  try {
    return toEvidence(node.met.evaluate(env, ctx.definitions), ctx.displays);
  } catch {
    return [];
  }
}

/** The catch-all exclusion; it stands aside when a named exclusion already applies. */
function unmatchedIndication(
  node: PolicyNode,
  sections: readonly SectionEvaluation[],
  env: Environment,
  named: NodeResult | undefined,
  allNamed: readonly NodeResult[],
  displays: Policy['displays'],
): NodeResult {
  const base = { id: node.id, text: node.text, children: [], notes: [] as string[] };
  if (named)
    return {
      ...base,
      state: 'not-met',
      decidedBy: 'record',
      evidence: [],
      notes: [`exclusion ${named.id} applies instead`],
    };
  if (sections.length === 0) {
    // A code of any method names no section: only an order shown to meet the required node (its method) is excluded.
    const required = node.requires
      ? allNamed.flatMap((r) => [...walk(r)]).find((r) => r.id === node.requires)
      : undefined;
    if (required && required.state !== 'met') {
      return {
        ...base,
        state: required.state,
        decidedBy: 'children',
        evidence: [...required.evidence],
        notes: [`it applies only when "${oneLine(required.text)}" is met`],
      };
    }
    return {
      ...base,
      state: 'met',
      decidedBy: 'record',
      evidence: [{ summary: 'no medical-necessity criterion of the policy applies to this procedure code' }],
    };
  }
  if (sections.some((s) => s.indication.state === 'met'))
    return { ...base, state: 'not-met', decidedBy: 'record', evidence: [] };
  if (sections.every((s) => s.indication.state === 'not-met')) {
    const attested = sections.find((s) => s.indication.decidedBy === 'attestation');
    const evidence = attested
      ? [...attested.indication.evidence]
      : toEvidence(env.vars['indications'] as unknown[], displays);
    return { ...base, state: 'met', decidedBy: attested ? 'attestation' : 'record', evidence };
  }
  return { ...base, state: 'unknown', decidedBy: 'nothing', evidence: [] };
}

/** The Coverage an assertion concerns: the active one that met the rule, else the one on record that failed it. */
function coverageOf(result: NodeResult | undefined, env: Environment): fhir4.Coverage | undefined {
  if (!result || result.state === 'unknown') return undefined;
  const coverages = env.vars['coverages'] as fhir4.Coverage[];
  return coverages.find((c) => result.evidence.some((e) => e.reference === `Coverage/${c.id}`));
}

/**
 * Whether a candidate section is out of the running: it does not apply (indication not met), or its criteria are
 * not met. A section whose indication is still unknown and whose criteria are not failed keeps the order open
 * (sections are independent: one failed section never hides another candidate).
 */
function decidedNotMet(s: SectionEvaluation): boolean {
  return s.indication.state === 'not-met' || s.result.state === 'not-met';
}

/** Candidate sections whose indication is unknown while their criteria could still be met. */
function undecided(sections: readonly SectionEvaluation[]): SectionEvaluation[] {
  return sections.filter((s) => s.indication.state === 'unknown' && s.result.state !== 'not-met');
}

function outcomeOf(d: {
  coverage: NodeResult | undefined;
  general: readonly NodeResult[];
  exclusions: readonly NodeResult[];
  sections: readonly SectionEvaluation[];
  incompleteData: readonly string[];
}): Outcome {
  if (d.coverage?.state === 'not-met') return 'no-coverage';
  if (d.exclusions.some((e) => e.state === 'met')) return 'investigative';
  const applicable = d.sections.filter((s) => s.applicable);
  if (d.general.some((g) => g.state === 'not-met')) return 'not-medically-necessary';
  if (applicable.length === 0) return 'documentation-needed';
  if (applicable.every((s) => s.result.state === 'not-met') && d.sections.every(decidedNotMet))
    return 'not-medically-necessary';
  const met = applicable.some((s) => s.result.state === 'met');
  const generalMet = d.general.every((g) => g.state === 'met');
  // An exclusion the record cannot rule out may still make the order investigative: it is asked, never covered.
  const excluded = d.exclusions.some((e) => e.state !== 'not-met');
  return met && generalMet && !excluded && d.incompleteData.length === 0 ? 'covered' : 'documentation-needed';
}

/** A met group some of whose children are not met (only an `any` group can be). */
function partlyMet(r: NodeResult): boolean {
  return r.state === 'met' && r.children.some((c) => c.state !== 'met');
}

function decisiveCriteria(
  outcome: Outcome,
  {
    sections,
    failed,
    exclusions,
  }: { sections: readonly SectionEvaluation[]; failed: readonly NodeResult[]; exclusions: readonly NodeResult[] },
): string[] {
  if (outcome === 'covered') {
    return sections
      .filter((s) => s.applicable && s.result.state === 'met')
      .flatMap((s) =>
        partlyMet(s.result) ? s.result.children.filter((c) => c.state === 'met').map((c) => c.id) : [s.id],
      );
  }
  if (outcome === 'not-medically-necessary') return failed.map((f) => f.id);
  if (outcome === 'investigative') return exclusions.filter((e) => e.state === 'met').map((e) => e.id);
  return [];
}

export function decide(input: DecideInput): OrderDecision {
  const { policy } = input;
  const env = orderEvidence(policy, input.env, input.candidateSections);
  const { values, errors, failed: failedDefinitions } = evaluateDefinitions(policy, env, input.shared);
  const base: Omit<EvaluationContext, 'definitionResults'> = {
    env,
    definitions: values,
    failed: failedDefinitions,
    attestations: input.attestations,
    displays: policy.displays,
  };
  const definitionResults = new Map<string, NodeResult>();
  const ctx0: EvaluationContext = { ...base, definitionResults };
  const definitions = policy.definitionNodes.map((n) => {
    const r = evaluateNode(n, ctx0);
    definitionResults.set(n.id, r);
    return r;
  });
  const ctx: EvaluationContext = { ...base, definitionResults };

  const general = policy.general.map((n) => evaluateNode(n, ctx));
  const coverageNode = policy.general.find((n) => n.role === 'coverage');
  const coverage = general.find((g) => g.id === coverageNode?.id);

  const sections: SectionEvaluation[] = policy.sections
    .filter((s) => input.candidateSections.includes(s.node.id))
    .map((s) => {
      const indication = evaluateIndication(s.indication, s.node.id, ctx, policy.sections);
      return {
        id: s.node.id,
        indication,
        result: evaluateSection(policy, s, ctx),
        applicable: indication.state === 'met',
      };
    });
  const named = policy.exclusions.filter((n) => n.role !== 'unmatched-indication').map((n) => evaluateNode(n, ctx));
  const exclusions = policy.exclusions.map(
    (n) =>
      named.find((r) => r.id === n.id) ??
      unmatchedIndication(
        n,
        sections,
        env,
        named.find((r) => r.state === 'met'),
        named,
        policy.displays,
      ),
  );

  const outcome = outcomeOf({ coverage, general, exclusions, sections, incompleteData: input.incompleteData });
  const applicable = sections.filter((s) => s.applicable);
  const toDocument =
    outcome === 'documentation-needed'
      ? [
          ...general.flatMap(openQuestions),
          // Criteria of the named exclusions still open (the method of a code of any method): each one keeps the
          // order from being covered, so each is asked.
          ...named.flatMap((r) => [...walk(r)]).filter((r) => r.state === 'unknown' && r.children.length === 0),
          ...(applicable.length === 0 ? sections.map((s) => s.indication).filter((i) => i.state === 'unknown') : []),
          ...applicable.flatMap((s) => openQuestions(s.result)),
          // Another section applied and failed: an undecided candidate is the order's remaining path, asked in full.
          ...(applicable.length > 0 && applicable.every((s) => s.result.state === 'not-met')
            ? undecided(sections).flatMap((s) => [s.indication, ...openQuestions(s.result)])
            : []),
        ]
      : [];
  const failed = [...general.flatMap(failedLeaves), ...applicable.flatMap((s) => failedLeaves(s.result))];
  return {
    reference: orderReference(input.order),
    outcome,
    metSections: applicable.filter((s) => s.result.state === 'met').map((s) => s.id),
    general,
    exclusions,
    definitions,
    sections,
    toDocument,
    failed,
    decisive: decisiveCriteria(outcome, { sections, failed, exclusions }),
    incompleteData: input.incompleteData,
    coverage: coverageOf(coverage, env),
    priorAuthorizationRequired: policy.priorAuthorization.required,
    errors,
  };
}
