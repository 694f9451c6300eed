import { orderCodings, type DraftOrder } from '../fhir/order.js';
import type { Coding } from '../fhir/coding.js';
import type { ServiceDefinition } from './service-definition.js';

export interface ScopeMatch {
  /** The order's codings that put it in scope (the billing codes of the assertion). */
  readonly codings: readonly Coding[];
  /** The union of the sections those codes map to. */
  readonly sections: readonly string[];
}

/** Which of the order's codings the service answers for, and the sections they map to; undefined when none. */
export function scopeMatch(order: DraftOrder, scope: ServiceDefinition['scope']): ScopeMatch | undefined {
  const codings: Coding[] = [];
  const sections = new Set<string>();
  for (const coding of orderCodings(order)) {
    const set = scope.orderCodes.find((s) => s.system === coding.system && coding.code !== undefined && Object.hasOwn(s.codes, coding.code));
    if (!set || coding.code === undefined) continue;
    codings.push(coding);
    for (const section of set.codes[coding.code] ?? []) sections.add(section);
  }
  return codings.length > 0 ? { codings, sections: [...sections] } : undefined;
}
