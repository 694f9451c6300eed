import { z } from 'zod';
import type { OrderDecision } from '../rules/decision.js';

/**
 * What the questionnaire package needs from a stored evaluation: per criterion id, whether the record decided it
 * (met / not met) or not (unknown), with the evidence; and per section, whether its indication is met. Only what
 * the record decided pre-fills an answer: attested states came from a clinician and are not `auto`.
 */

export type CriterionState = 'met' | 'not-met' | 'unknown';

export interface EvidenceDisplay {
  /** e.g. "Observation/egfr-1", when the evidence is a resource. */
  readonly reference?: string;
  /** One line a clinician can read: "eGFR 48 mL/min on 2026-10-01". */
  readonly display: string;
}

export interface CriterionEvaluation {
  readonly state: CriterionState;
  /** true only when the record (not an attestation, not the children) decided the state. */
  readonly byRecord: boolean;
  readonly evidence: readonly EvidenceDisplay[];
}

export interface PackageEvaluation {
  /** Criterion id (= Questionnaire linkId) to its evaluation. */
  readonly criteria: Readonly<Record<string, CriterionEvaluation>>;
  /** Section id to the evaluation of its indication. */
  readonly indications: Readonly<Record<string, CriterionEvaluation>>;
}

/** The part of a NodeResult this module reads; OrderDecision's NodeResult is assignable to it. */
export interface TraceNode {
  readonly id: string;
  readonly state: CriterionState;
  readonly decidedBy: string;
  readonly evidence: readonly { readonly reference?: string | undefined; readonly summary: string }[];
  readonly children: readonly TraceNode[];
}

/** The part of an OrderDecision this module reads, as stored in the assertion's trace. */
export interface DecisionTrace {
  readonly general: readonly TraceNode[];
  readonly definitions?: readonly TraceNode[];
  readonly exclusions?: readonly TraceNode[];
  readonly sections: readonly { readonly id: string; readonly indication: TraceNode; readonly result: TraceNode }[];
}

function walk(node: TraceNode, visit: (n: TraceNode) => void): void {
  visit(node);
  for (const child of node.children) walk(child, visit);
}

function criterionOf(node: TraceNode): CriterionEvaluation {
  return {
    state: node.state,
    byRecord: node.decidedBy === 'record' && node.state !== 'unknown',
    evidence: node.evidence.map((e) => ({ ...(e.reference ? { reference: e.reference } : {}), display: e.summary })),
  };
}

function sameOutcome(a: CriterionEvaluation, b: CriterionEvaluation): boolean {
  return a.state === b.state && a.byRecord === b.byRecord;
}

/**
 * The adapter from the engine's decision (or its stored JSON). A criterion seen twice with different states is
 * recorded as unknown: nothing is pre-filled that the record does not say one way.
 */
export function evaluationFromDecision(decision: DecisionTrace): PackageEvaluation {
  const criteria: Record<string, CriterionEvaluation> = {};
  const conflicting = new Set<string>();
  const visit = (node: TraceNode) => {
    const current = criterionOf(node);
    const seen = criteria[node.id];
    if (seen && !sameOutcome(seen, current)) conflicting.add(node.id);
    else if (!seen) criteria[node.id] = current;
  };
  const roots = [...decision.general, ...(decision.exclusions ?? []), ...decision.sections.map((s) => s.result)];
  roots.forEach((root) => walk(root, visit));
  for (const id of conflicting) criteria[id] = { state: 'unknown', byRecord: false, evidence: [] };
  const indications = Object.fromEntries(decision.sections.map((s) => [s.id, criterionOf(s.indication)]));
  return { criteria, indications };
}

/** Compile-time proof that the engine's OrderDecision fits the adapter. */
export const fromOrderDecision: (decision: OrderDecision) => PackageEvaluation = evaluationFromDecision;

const traceNode: z.ZodType<TraceNode> = z.lazy(() =>
  z.looseObject({
    id: z.string(),
    state: z.enum(['met', 'not-met', 'unknown']),
    decidedBy: z.string(),
    evidence: z.array(z.looseObject({ reference: z.string().optional(), summary: z.string() })),
    children: z.array(traceNode),
  }),
);

const decisionTrace = z.looseObject({
  general: z.array(traceNode),
  definitions: z.array(traceNode).optional(),
  exclusions: z.array(traceNode).optional(),
  sections: z.array(z.looseObject({ id: z.string(), indication: traceNode, result: traceNode })),
});

/**
 * The evaluation from a stored assertion's `trace` (the OrderDecision serialized as JSON). A trace of another
 * shape gives undefined: the package then carries an empty response rather than guessed answers.
 */
export function evaluationFromTrace(trace: unknown): PackageEvaluation | undefined {
  const parsed = decisionTrace.safeParse(trace);
  return parsed.success ? evaluationFromDecision(parsed.data) : undefined;
}
