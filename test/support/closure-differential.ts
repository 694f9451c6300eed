import type { Environment } from '../../src/rules/environment.js';
import { DECLINED } from '../../src/rules/fhirpath-closures.js';
import { scopeOf, type CompiledExpression, type Policy } from '../../src/rules/policy.js';

/**
 * Runs every closure-compiled expression of a policy through both evaluators on each evaluation the engine makes:
 * the closure first (it sees the data as it would alone), then fhirpath.js, whose answer the engine goes on with.
 * Results must be the same items (the same objects, equal primitives) in the same order, and an expression
 * fhirpath.js fails on must not give a result.
 */

export interface Divergence {
  readonly expression: string;
  readonly closure: unknown;
  readonly fhirpath: unknown;
}

export interface Differential {
  readonly divergences: Divergence[];
  /** Non-DECLINED errors thrown by a closure (production would fall back, but they are bugs). */
  readonly closureErrors: string[];
  /** Per expression source: evaluations compared, and evaluations the closure declined. */
  readonly compared: Map<string, number>;
  readonly declined: Map<string, number>;
}

const same = (a: readonly unknown[], b: readonly unknown[]): boolean =>
  a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

const bump = (m: Map<string, number>, k: string): void => {
  m.set(k, (m.get(k) ?? 0) + 1);
};

export function expressionsOf(policy: Policy): CompiledExpression[] {
  const nodes = [...policy.nodes.values()].flatMap((n) => [n.met, n.notMet]);
  return [...policy.definitions.map((d) => d.expression), ...nodes].filter(
    (e): e is CompiledExpression => e !== undefined,
  );
}

/** Makes the policy's expressions run both evaluators from now on (the policy object is the test's own). */
export function differential(policy: Policy): Differential {
  const result: Differential = { divergences: [], closureErrors: [], compared: new Map(), declined: new Map() };
  for (const expression of expressionsOf(policy)) {
    const closure = expression.closure;
    if (!closure) continue;
    const both = (env: Environment, definitions: Readonly<Record<string, unknown>>): unknown[] => {
      let fast: unknown[] | undefined;
      try {
        fast = closure(scopeOf(env, definitions));
      } catch (e) {
        if (e !== DECLINED) result.closureErrors.push(`${expression.source}: ${String(e)}`);
      }
      let reference: unknown[] | undefined;
      let failure: unknown;
      try {
        reference = expression.evaluateWithFhirpath(env, definitions);
      } catch (e) {
        failure = e;
      }
      if (fast === undefined) bump(result.declined, expression.source);
      else {
        bump(result.compared, expression.source);
        if (reference === undefined || !same(fast, reference))
          result.divergences.push({
            expression: expression.source,
            closure: fast,
            fhirpath: reference ?? `error: ${String(failure)}`,
          });
      }
      if (reference === undefined) throw failure;
      return reference;
    };
    (expression as { evaluate: CompiledExpression['evaluate'] }).evaluate = both;
  }
  return result;
}
