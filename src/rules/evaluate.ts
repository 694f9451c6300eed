import type { Answer, Attestations } from './attestation.js';
import type { Environment } from './environment.js';
import { isAffirmative, toEvidence, type DisplayLookup, type Evidence } from './evidence.js';
import type { NodeState } from './policy-schema.js';
import { errorMessage } from './errors.js';
import { answerVerdict } from './information-origin.js';
import { definitionScope, type Policy, type PolicyNode } from './policy.js';

/** Three-valued (Kleene) evaluation of a criteria tree, with the evidence that decided each node. */

export type { NodeState };

export interface NodeResult {
  readonly id: string;
  readonly text: string;
  readonly state: NodeState;
  /** What decided the state: the record, a clinician's attestation, or the node's children. */
  readonly decidedBy: 'record' | 'attestation' | 'children' | 'nothing' | 'conflict';
  readonly evidence: readonly Evidence[];
  readonly children: readonly NodeResult[];
  readonly question?: string;
  /** Why the state is what it is when that is not obvious: conflicting records, an attestation overruled... */
  readonly notes: readonly string[];
  /** The record decided one way and the attestation the other: the criterion pends (unknown) and both are shown. */
  readonly conflict?: Conflict;
}

export interface Conflict {
  readonly record: { readonly state: 'met' | 'not-met'; readonly evidence: readonly Evidence[] };
  readonly attestation: Evidence & { readonly state: 'met' | 'not-met' };
}

/** How an attested answer is shown: what was answered, when, in which response, and whether it was for this order. */
export function attestedEvidence(answer: Answer, what: string): Evidence {
  const when = answer.authored ? ` on ${answer.authored.slice(0, 10)}` : '';
  const link = answer.linked ? ', linked to this order' : ', not linked to an order';
  const who =
    answer.origin === 'auto'
      ? `answer pre-filled from the record, kept and attested: ${what}`
      : `clinician attested ${what}`;
  return { reference: answer.reference, summary: `${who}${when} (${answer.reference}${link})` };
}

export interface EvaluationContext {
  readonly env: Environment;
  readonly definitions: Readonly<Record<string, unknown>>;
  /** Definitions that could not be evaluated: whatever depends on them is unknown, not empty. */
  readonly failed: ReadonlySet<string>;
  readonly attestations: Attestations;
  readonly definitionResults: ReadonlyMap<string, NodeResult>;
  /** Names codes the data gives no display (the policy's code lists). */
  readonly displays?: DisplayLookup;
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

function fromRecord(
  node: PolicyNode,
  ctx: EvaluationContext,
): { state: NodeState; evidence: Evidence[]; notes: string[] } {
  if (node.sameAs) {
    const def = ctx.definitionResults.get(node.sameAs);
    return def
      ? { state: def.state, evidence: [...def.evidence], notes: [`as defined by ${node.sameAs}`] }
      : { state: 'unknown', evidence: [], notes: [] };
  }
  const met = run(node.met, ctx);
  const notMet = run(node.notMet, ctx);
  const notes = [met.error, notMet.error]
    .filter((e): e is string => e !== undefined)
    .map((e) => `could not be evaluated: ${e}`);
  if (notes.length > 0) return { state: 'unknown', evidence: [], notes };
  const yes = isAffirmative(met.items);
  const no = isAffirmative(notMet.items);
  if (yes && no) {
    return {
      state: 'unknown',
      evidence: [...toEvidence(met.items, ctx.displays), ...toEvidence(notMet.items, ctx.displays)],
      notes: ['the record holds evidence both for and against this criterion'],
    };
  }
  if (yes) return { state: 'met', evidence: toEvidence(met.items, ctx.displays), notes: [] };
  if (no) return { state: 'not-met', evidence: toEvidence(notMet.items, ctx.displays), notes: [] };
  return { state: 'unknown', evidence: [], notes: [] };
}

function evaluateLeaf(node: PolicyNode, ctx: EvaluationContext): NodeResult {
  const record = fromRecord(node, ctx);
  const answer = node.question ? ctx.attestations.answer(node.id) : undefined;
  const base = { id: node.id, text: node.text, children: [], ...(node.question ? { question: node.question } : {}) };
  if (answer === undefined || typeof answer.value !== 'boolean') {
    return {
      ...base,
      state: record.state,
      decidedBy: record.state === 'unknown' ? 'nothing' : 'record',
      evidence: record.evidence,
      notes: record.notes,
    };
  }
  const attested: NodeState = answer.value ? 'met' : 'not-met';
  const attestation = attestedEvidence(answer, `"${answer.value ? 'yes' : 'no'}"`);
  const verdict = answerVerdict(
    { origin: answer.origin, value: { valueBoolean: answer.value } },
    { state: record.state },
  );
  if (verdict === 'decides' || record.state === 'unknown') {
    return {
      ...base,
      state: attested,
      decidedBy: 'attestation',
      evidence: [...record.evidence, attestation],
      notes: record.notes,
    };
  }
  const fromRecordNow = { ...base, state: record.state, decidedBy: 'record' as const };
  switch (verdict) {
    case 'agrees':
      return { ...fromRecordNow, evidence: [...record.evidence, attestation], notes: record.notes };
    case 'agrees-by-construction':
      // Pre-filled from the record: it says what the record said then. If the record has changed since, it decides.
      if (attested === record.state)
        return { ...fromRecordNow, evidence: [...record.evidence, attestation], notes: record.notes };
      return {
        ...fromRecordNow,
        evidence: record.evidence,
        notes: [
          ...record.notes,
          `the pre-filled answer "${answer.value ? 'yes' : 'no'}" (${answer.reference}) came from the record, which has changed since: the record decides`,
        ],
      };
    case 'contradicts':
      return contradiction(
        base,
        { state: record.state, evidence: record.evidence },
        { ...attestation, state: attested },
        record.notes,
      );
  }
}

/** Record and attestation disagree: neither decides, the criterion pends with both sides shown. */
export function contradiction(
  base: Pick<NodeResult, 'id' | 'text' | 'children'> & { question?: string },
  record: Conflict['record'],
  attestation: Conflict['attestation'],
  notes: readonly string[] = [],
): NodeResult {
  return {
    ...base,
    state: 'unknown',
    decidedBy: 'conflict',
    evidence: [...record.evidence, attestation],
    notes: [...notes, 'the record and the attestation disagree: the criterion pends until they are reconciled'],
    conflict: { record, attestation },
  };
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
    state: combine(
      node.kind,
      children.map((c) => c.state),
    ),
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
