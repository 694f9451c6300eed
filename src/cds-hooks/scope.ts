import { isObject } from '../fhir/bundle.js';
import { conceptCodings, type Coding } from '../fhir/coding.js';
import { orderCodings, type DraftOrder } from '../fhir/order.js';
import type { ServiceDefinition } from './service-definition.js';

export interface ScopeMatch {
  /** The order's codings that put it in scope (the billing codes of the assertion). */
  readonly codings: readonly Coding[];
  /** The union of the sections those codes map to. */
  readonly sections: readonly string[];
  /**
   * What states that the order is done by the method the policy governs: a method-specific code, or the words of
   * the order naming it. Empty when the order's codes describe any method and the order names none (asked).
   */
  readonly method: readonly string[];
}

type Scope = ServiceDefinition['scope'];

/**
 * The texts an order names its method in: the code's text and displays, and orderDetail's texts and displays. The
 * display of a code of any method is its descriptor ("by any method, e.g. ..."), not a statement, and is skipped.
 */
function methodTexts(order: DraftOrder, descriptor: (c: Coding) => boolean): { where: string; text: string }[] {
  const concept = (value: unknown, where: string) =>
    isObject(value)
      ? [
          ...(typeof value['text'] === 'string' ? [{ where, text: value['text'] }] : []),
          ...conceptCodings(value).flatMap((c) => (c.display && !descriptor(c) ? [{ where, text: c.display }] : [])),
        ]
      : [];
  const details = Array.isArray(order['orderDetail']) ? order['orderDetail'] : [];
  return [...concept(order['code'], 'order'), ...details.flatMap((d) => concept(d, 'order detail'))];
}

const escape = (w: string) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A word matched where a word starts, in any case: "thermo" finds "Thermocoagulation" and "radio-thermo". */
const wordsPattern = (words: readonly string[]) =>
  new RegExp(`(^|[^\\p{L}\\p{N}])(${words.map(escape).join('|')})`, 'iu');

/**
 * The method an order states (generic): an order of a code that describes any method is in scope when it names the
 * governed method or none; naming only another method puts it out of scope. Any in-scope code that is not of any
 * method states the governed method by itself.
 */
export function readMethod(
  order: DraftOrder,
  scope: Scope,
  matched: readonly { coding: Coding; anyMethod: boolean }[],
): { outOfScope: boolean; method: string[] } {
  const specific = matched
    .filter((m) => !m.anyMethod)
    .map((m) => `the order code ${m.coding.display ?? m.coding.code ?? ''}`.trim());
  if (specific.length > 0 || !scope.method) return { outOfScope: false, method: specific };
  const governed = wordsPattern(scope.method.governed);
  const other = wordsPattern(scope.method.other);
  const anyMethod = matched.filter((m) => m.anyMethod).map((m) => m.coding);
  const texts = methodTexts(order, (c) => anyMethod.some((a) => a.code === c.code));
  const stated = texts.filter((t) => governed.test(t.text)).map((t) => `${t.where} "${t.text.trim()}"`);
  if (stated.length > 0) return { outOfScope: false, method: stated };
  return { outOfScope: texts.some((t) => other.test(t.text)), method: [] };
}

/** Which of the order's codings the service answers for, and the sections they map to; undefined when none. */
export function scopeMatch(order: DraftOrder, scope: Scope): ScopeMatch | undefined {
  const matched: { coding: Coding; anyMethod: boolean }[] = [];
  const sections = new Set<string>();
  for (const coding of orderCodings(order)) {
    const set = scope.orderCodes.find(
      (s) => s.system === coding.system && coding.code !== undefined && Object.hasOwn(s.codes, coding.code),
    );
    if (!set || coding.code === undefined) continue;
    matched.push({ coding, anyMethod: set.anyMethod.includes(coding.code) });
    for (const section of set.codes[coding.code] ?? []) sections.add(section);
  }
  if (matched.length === 0) return undefined;
  const { outOfScope, method } = readMethod(order, scope, matched);
  if (outOfScope) return undefined;
  return { codings: matched.map((m) => m.coding), sections: [...sections], method };
}
