import { z } from 'zod';
import { jsonPropertyName } from '../fhir/schemas.js';
import { configurationOptionSchema } from '../crd/configuration.js';
import { ORDER_SIGN_TOKENS, templateProblem, templateTarget } from './prefetch.js';

/**
 * The declarative definition of one CDS service (`hooks/<name>/service.yaml`): its discovery entry, the orders
 * it answers for, the data it reads and the CRD configuration options it offers.
 */

/** Order codes of one system, each mapped to the policy sections that may apply to it. */
const codeSet = z.strictObject({
  system: z.url(),
  codes: z
    .record(z.string().min(1), z.array(z.string().min(1)))
    .refine((c) => Object.keys(c).length > 0, 'list at least one code'),
  /**
   * Codes that describe the procedure by any method: the order is in scope only when it states the method the
   * policy governs, or no method (scope.method says how a method is recognised).
   */
  anyMethod: z.array(z.string().min(1)).default([]),
});

/** Words that name a method in an order's code text, code displays or orderDetail (matched at a word start, any case). */
const methodWords = z.array(z.string().trim().min(2)).min(1);

const query = z.strictObject({
  template: z.string().min(1),
  /**
   * `always`: every call needs it (advertised as prefetch in CRD minimal mode); `in-scope`: needed only when an
   * order in scope is present. Either way a query runs only for calls with an order in scope.
   */
  needed: z.enum(['always', 'in-scope']),
  description: z.string().min(1),
});

export const serviceDefinitionSchema = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be URL-safe (letters, digits, . _ -)'),
    hook: z.literal('order-sign', { error: 'only order-sign services are supported by this engine' }),
    title: z.string().min(1),
    description: z.string().min(1),
    usageRequirements: z.string().min(1).optional(),
    source: z.strictObject({
      label: z.string().min(1),
      url: z.url().optional(),
      icon: z.url().optional(),
    }),
    scope: z.strictObject({
      orderCodes: z.array(codeSet).min(1),
      /** How an order of an `anyMethod` code states its method: the one the policy governs, or another one. */
      method: z.strictObject({ governed: methodWords, other: methodWords }).optional(),
    }),
    queries: z.record(z.string().regex(jsonPropertyName, 'query keys must be valid JSON property names'), query),
    configurationOptions: z.array(configurationOptionSchema).min(1),
  })
  .superRefine((def, ctx) => {
    for (const [key, q] of Object.entries(def.queries)) {
      const problem = templateProblem(q.template, ORDER_SIGN_TOKENS);
      if (problem) ctx.addIssue({ code: 'custom', path: ['queries', key, 'template'], message: problem });
    }
    if (Object.keys(def.queries).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['queries'], message: 'declare at least one data query' });
    }
    def.scope.orderCodes.forEach((set, i) => {
      set.anyMethod.forEach((code, j) => {
        if (!Object.hasOwn(set.codes, code)) {
          ctx.addIssue({
            code: 'custom',
            path: ['scope', 'orderCodes', i, 'anyMethod', j],
            message: `${code} is not one of the set's codes`,
          });
        }
      });
      if (set.anyMethod.length > 0 && !def.scope.method) {
        ctx.addIssue({
          code: 'custom',
          path: ['scope', 'method'],
          message: 'codes of any method need scope.method (governed and other words)',
        });
      }
    });
    const seen = new Set<string>();
    def.configurationOptions.forEach((o, i) => {
      if (seen.has(o.code)) {
        ctx.addIssue({
          code: 'custom',
          path: ['configurationOptions', i, 'code'],
          message: `duplicate code ${o.code}`,
        });
      }
      seen.add(o.code);
    });
    if (!def.configurationOptions.some((o) => o.type === 'boolean')) {
      ctx.addIssue({
        code: 'custom',
        path: ['configurationOptions'],
        message: 'offer at least one boolean option per card type the service returns',
      });
    }
  });

export type ServiceDefinition = z.infer<typeof serviceDefinitionSchema>;
export type QueryDefinition = ServiceDefinition['queries'][string];

export interface DataQuery extends QueryDefinition {
  readonly key: string;
  readonly kind: 'read' | 'search';
  readonly resourceType: string;
}

export function dataQueries(def: ServiceDefinition): DataQuery[] {
  return Object.entries(def.queries).map(([key, q]) => {
    const target = templateTarget(q.template);
    if (!target) throw new Error(`unreachable: template ${key} was validated at load`);
    return { ...q, key, ...target };
  });
}
