import type { Attestations } from './attestation.js';
import type { Environment } from './environment.js';
import { isAffirmative, toEvidence, type Evidence } from './evidence.js';
import type { NodeState } from './policy-schema.js';
import { errorMessage } from './errors.js';
import { definitionScope, type Policy, type PolicyNode } from './policy.js';

/** Three-valued (Kleene) evaluation of a criteria tree, with the evidence that decided each node. */

export type { NodeState };

export interface NodeResult {
  readonly id: string;
  readonly text: string;
  readonly state: NodeState;
  /** What decided the state: the record, a clinician's attestation, or the node's children. */
  readonly decidedBy: 'record' | 'attestation' | 'children' | 'nothing';
  readonly evidence: readonly Evidence[];
  readonly children: readonly NodeResult[];
  readonly question?: string;
  /** Why the state is what it is when that is not obvious: conflicting records, an attestation overruled... */
  readonly notes: readonly string[];
}

export interface EvaluationContext {
  readonly env: Environment;
  readonly definitions: Readonly<Record<string, unknown>>;
  /** Definitions that could not be evaluated: whatever depends on them is unknown, not empty. */
  readonly failed: ReadonlySet<string>;
  readonly attestations: Attestations;
  readonly definitionResults: ReadonlyMap<string, NodeResult>;
}

/** Definitions that do not depend on the order, evaluated once for all the orders of a request. */
export type SharedDefinitions = Map<string, { value: unknown; error?: string }>;

/**
 * Evaluates the policy's named definitions in dependency order; a failing one, and all that use it, fail.
 * Definitions independent of the order come from `shared` when another order of the request computed them.
 */
export function evaluateDefinitions(
  policy: Policy,
  env: Environment,
  shared: SharedDefinitions = new Map(),
): { values: Record<string, unknown>; errors: string[]; failed: Set<string> } {
  // own properties: the definitions; inherited: the engine variables (no copy per expression)
  const values = definitionScope(env);
  const errors: string[] = [];
  const failed = new Set<string>();
  for (const def of policy.definitions) {
    values[def.name] = [];
    const cached = def.perOrder ? undefined : shared.get(def.name);
    if (cached) {
      values[def.name] = cached.value;
      if (cached.error !== undefined) failed.add(def.name);
      continue;
    }
    const broken = def.expression.references.find((r) => failed.has(r));
    let error: string | undefined = broken ? `uses ${broken}` : undefined;
    if (!broken) {
      try {
        values[def.name] = def.expression.evaluate(env, values);
      } catch (e) {
        error = errorMessage(e);
        errors.push(`${def.name}: ${error}`);
      }
    }
    if (error !== undefined) failed.add(def.name);
    if (!def.perOrder) shared.set(def.name, { value: values[def.name], ...(error !== undefined ? { error } : {}) });
  }
  return { values, errors, failed };
}

function run(expr: PolicyNode['met'], ctx: EvaluationContext): { items: unknown[]; error?: string } {
  if (!expr) return { items: [] };
  const broken = expr.references.find((r) => ctx.failed.has(r));
  if (broken) return { items: [], error: `it uses %${broken}, which could not be evaluated` };
  try {
    return { items: expr.evaluate(ctx.env, ctx.definitions) };
  } catch (e) {
    return { items: [], error: errorMessage(e) };
  }
}

function fromRecord(node: PolicyNode, ctx: EvaluationContext): { state: NodeState; evidence: Evidence[]; notes: string[] } {
  if (node.sameAs) {
    const def = ctx.definitionResults.get(node.sameAs);
    return def
      ? { state: def.state, evidence: [...def.evidence], notes: [`as defined by ${node.sameAs}`] }
      : { state: 'unknown', evidence: [], notes: [] };
  }
  const met = run(node.met, ctx);
  const notMet = run(node.notMet, ctx);
  const notes = [met.error, notMet.error].filter((e): e is string => e !== undefined).map((e) => `could not be evaluated: ${e}`);
  if (notes.length > 0) return { state: 'unknown', evidence: [], notes };
  const yes = isAffirmative(met.items);
  const no = isAffirmative(notMet.items);
  if (yes && no) {
    return {
      state: 'unknown',
      evidence: [...toEvidence(met.items), ...toEvidence(notMet.items)],
      notes: ['the record holds evidence both for and against this criterion'],
    };
  }
  if (yes) return { state: 'met', evidence: toEvidence(met.items), notes: [] };
  if (no) return { state: 'not-met', evidence: toEvidence(notMet.items), notes: [] };
  return { state: 'unknown', evidence: [], notes: [] };
}

function evaluateLeaf(node: PolicyNode, ctx: EvaluationContext): NodeResult {
  const record = fromRecord(node, ctx);
  const answer = node.question ? ctx.attestations.answer(node.id) : undefined;
  const base = { id: node.id, text: node.text, children: [], ...(node.question ? { question: node.question } : {}) };
  if (answer === undefined || typeof answer.value !== 'boolean') {
    return { ...base, state: record.state, decidedBy: record.state === 'unknown' ? 'nothing' : 'record', evidence: record.evidence, notes: record.notes };
  }
  const attested: NodeState = answer.value ? 'met' : 'not-met';
  const attestation: Evidence = { reference: answer.reference, summary: `clinician attested "${answer.value ? 'yes' : 'no'}"` };
  if (record.state === 'unknown') {
    return { ...base, state: attested, decidedBy: 'attestation', evidence: [...record.evidence, attestation], notes: record.notes };
  }
  const notes =
    attested === record.state
      ? record.notes
      : [...record.notes, `the attestation (${answer.value ? 'yes' : 'no'}) disagrees with the record, which decides`];
  return { ...base, state: record.state, decidedBy: 'record', evidence: [...record.evidence, attestation], notes };
}

export function combine(kind: 'all' | 'any', states: readonly NodeState[]): NodeState {
  if (kind === 'all') {
    if (states.includes('not-met')) return 'not-met';
    return states.every((s) => s === 'met') ? 'met' : 'unknown';
  }
  if (states.includes('met')) return 'met';
  return states.every((s) => s === 'not-met') ? 'not-met' : 'unknown';
}

export function evaluateNode(node: PolicyNode, ctx: EvaluationContext): NodeResult {
  if (node.kind === 'leaf') return evaluateLeaf(node, ctx);
  const children = node.children.map((c) => evaluateNode(c, ctx));
  return {
    id: node.id,
    text: node.text,
    state: combine(node.kind, children.map((c) => c.state)),
    decidedBy: 'children',
    evidence: [],
    children,
    notes: [],
  };
}

/** Unknown leaves whose answer could still change the node's state (documentation worth asking for). */
export function openQuestions(result: NodeResult): NodeResult[] {
  if (result.state !== 'unknown') return [];
  if (result.children.length === 0) return [result];
  return result.children.flatMap(openQuestions);
}

/** The not-met leaves that make the node not met. */
export function failedLeaves(result: NodeResult): NodeResult[] {
  if (result.state !== 'not-met') return [];
  if (result.children.length === 0) return [result];
  return result.children.flatMap(failedLeaves);
}

export function* walk(result: NodeResult): Generator<NodeResult> {
  yield result;
  for (const c of result.children) yield* walk(c);
}
