import type { Rec } from '../fhir/bundle.js';
import type { Environment } from './environment.js';
import { evaluateNode, type EvaluationContext, type NodeResult } from './evaluate.js';
import { toEvidence } from './evidence.js';
import { definitionScope, type Policy, type PolicyNode, type PolicySection } from './policy.js';
import { tiedEvidence, type TiedEvidence } from './treated-condition.js';

/**
 * The section variables (%treatedConditions, %tiedObservations, %treatedSecondaries, %unplacedSecondaries) of an order: computed for all its candidate
 * sections together, then for each section on its own. A section whose treated condition and tied evidence are
 * the order's reuses the order's definitions (the common case: one disease); otherwise the definitions that depend
 * on them, and the policy definition nodes that use those, are evaluated again for that section only.
 */

const NO_EVIDENCE: TiedEvidence = { treated: [], tied: [], setAside: [], secondaries: [], unplaced: [] };

function evidenceOf(policy: Policy, env: Environment, sectionIds: readonly string[]): TiedEvidence {
  if (!policy.evidence) return NO_EVIDENCE;
  const v = env.vars;
  return tiedEvidence(
    {
      index: env.index,
      order: (v['order'] as Rec[])[0] ?? {},
      conditions: v['conditions'] as Rec[],
      history: v['conditionHistory'] as Rec[],
      observations: v['observations'] as Rec[],
    },
    policy.evidence,
    sectionIds,
  );
}

const withEvidence = (env: Environment, e: TiedEvidence): Environment => ({
  ...env,
  vars: {
    ...env.vars,
    treatedConditions: e.treated,
    tiedObservations: e.tied,
    treatedSecondaries: e.secondaries,
    unplacedSecondaries: e.unplaced,
  },
});

/** The order's environment with the section variables of all its candidate sections. */
export function orderEvidence(policy: Policy, env: Environment, candidateSections: readonly string[]): Environment {
  return withEvidence(env, evidenceOf(policy, env, candidateSections));
}

const sameItems = (a: readonly unknown[], b: unknown): boolean =>
  Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]);

function dependsOnSection(node: PolicyNode, policy: Policy): boolean {
  const refs = [...(node.met?.references ?? []), ...(node.notMet?.references ?? [])];
  if (refs.some((r) => policy.sectionDependent.has(r))) return true;
  const def = node.sameAs ? policy.nodes.get(node.sameAs) : undefined;
  return def !== undefined && def !== node && dependsOnSection(def, policy);
}

function sectionContext(policy: Policy, ctx: EvaluationContext, e: TiedEvidence): EvaluationContext {
  const env = withEvidence(ctx.env, e);
  const definitions = Object.assign(definitionScope(env), ctx.definitions);
  const failed = new Set(ctx.failed);
  for (const def of policy.definitions) {
    if (!def.perSection) continue;
    failed.delete(def.name);
    if (def.expression.references.some((r) => failed.has(r))) {
      failed.add(def.name);
      definitions[def.name] = [];
      continue;
    }
    try {
      definitions[def.name] = def.expression.evaluate(env, definitions);
    } catch {
      failed.add(def.name);
      definitions[def.name] = [];
    }
  }
  const definitionResults = new Map(ctx.definitionResults);
  const base: EvaluationContext = { ...ctx, env, definitions, failed, definitionResults };
  for (const node of policy.definitionNodes)
    if (dependsOnSection(node, policy)) definitionResults.set(node.id, evaluateNode(node, base));
  return base;
}

function setAsideNote(items: readonly Rec[]): string {
  const what = toEvidence(items)
    .map((e) => e.summary)
    .join('; ');
  return `not counted (ruling R1): ${what} - not tied to the treated condition, and the member has another cancer on record`;
}

/** Unknown leaves that read the tied evidence say which untied results were left out. */
function annotate(node: PolicyNode, result: NodeResult, policy: Policy, note: string): NodeResult {
  if (result.state !== 'unknown') return result;
  if (node.kind === 'leaf')
    return dependsOnSection(node, policy) ? { ...result, notes: [...result.notes, note] } : result;
  return {
    ...result,
    children: result.children.map((c, i) => (node.children[i] ? annotate(node.children[i], c, policy, note) : c)),
  };
}

/** Evaluates a section on the evidence tied to the condition it treats. */
export function evaluateSection(policy: Policy, section: PolicySection, ctx: EvaluationContext): NodeResult {
  if (!policy.evidence) return evaluateNode(section.node, ctx);
  const own = evidenceOf(policy, ctx.env, [section.node.id]);
  const v = ctx.env.vars;
  const same =
    sameItems(own.treated, v['treatedConditions']) &&
    sameItems(own.tied, v['tiedObservations']) &&
    sameItems(own.secondaries, v['treatedSecondaries']) &&
    sameItems(own.unplaced, v['unplacedSecondaries']);
  const result = evaluateNode(section.node, same ? ctx : sectionContext(policy, ctx, own));
  return own.setAside.length > 0 ? annotate(section.node, result, policy, setAsideNote(own.setAside)) : result;
}
