import { z } from 'zod';
import { codingSchema, nonEmpty, resourceSchema } from '../fhir/schemas.js';

/** CDS Hooks 2.0 response schemas: what a service may answer (cards, system actions). */

export const sourceSchema = z.strictObject({
  label: nonEmpty,
  url: z.url().optional(),
  icon: z.url().optional(),
  topic: codingSchema.optional(),
});

export const linkSchema = z.strictObject({
  label: nonEmpty,
  url: z.url(),
  type: z.enum(['absolute', 'smart']),
  appContext: nonEmpty.optional(),
  autolaunchable: z.boolean().optional(),
});

export const actionSchema = z.strictObject({
  type: z.enum(['create', 'update', 'delete']),
  description: nonEmpty,
  resource: resourceSchema.optional(),
  resourceId: nonEmpty.optional(),
});

export const suggestionSchema = z.strictObject({
  label: nonEmpty,
  uuid: z.uuid().optional(),
  isRecommended: z.boolean().optional(),
  actions: z.array(actionSchema).min(1).optional(),
});

export const cardSchema = z
  .strictObject({
    uuid: z.uuid().optional(),
    summary: nonEmpty.max(139, 'summary must be shorter than 140 characters'),
    detail: nonEmpty.optional(),
    indicator: z.enum(['info', 'warning', 'critical']),
    source: sourceSchema,
    suggestions: z.array(suggestionSchema).min(1).optional(),
    selectionBehavior: z.enum(['at-most-one', 'any']).optional(),
    overrideReasons: z
      .array(codingSchema.required({ display: true }))
      .min(1)
      .optional(),
    links: z.array(linkSchema).min(1).optional(),
    extension: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((c) => (c.suggestions === undefined) === (c.selectionBehavior === undefined), {
    error: 'selectionBehavior is required with suggestions and only with them',
    path: ['selectionBehavior'],
  });

/** The order-sign answer: `systemActions` is always present (CRD clients and Inferno require it). */
export const hookResponseSchema = z.strictObject({
  cards: z.array(cardSchema),
  systemActions: z.array(actionSchema),
});

export type Card = z.infer<typeof cardSchema>;
export type CardSource = z.infer<typeof sourceSchema>;
export type Action = z.infer<typeof actionSchema>;
export type HookResponse = z.infer<typeof hookResponseSchema>;
