import { z } from 'zod';
import { failure, operationOutcome, type Failure } from '../fhir/outcome.js';
import { issuePath } from '../fhir/issues.js';
import { isFhirId, nonEmpty, resourceSchema } from '../fhir/schemas.js';

/**
 * CDS Hooks 2.0 request schemas. The CDS Hooks types used across the engine are derived from these.
 * They are tolerant where real clients deviate (unknown keys, non-R4-valid orders, empty access tokens,
 * null prefetch values) and strict where the service could not work otherwise.
 */

/** An id in context, tolerating the `Type/id` form some clients send. */
const contextId = (type: string) =>
  z
    .string()
    .transform((v) => v.replace(new RegExp(`^${type}/`), ''))
    .refine(isFhirId, 'must be a FHIR id (letters, digits, "-" and ".", at most 64)');

const baseUrl = z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' }).refine((u) => {
  if (!URL.canParse(u)) return true;
  const url = new URL(u);
  return url.search === '' && url.hash === '' && url.username === '' && url.password === '';
}, 'must be a base URL without query, fragment or credentials');

const bundleEntrySchema = z.looseObject({ resource: resourceSchema });

export const draftOrdersSchema = z.looseObject({
  resourceType: z.literal('Bundle', { error: 'draftOrders must be a FHIR Bundle' }),
  entry: z.array(bundleEntrySchema).optional(),
});

export const orderSignContextSchema = z.looseObject({
  userId: nonEmpty,
  patientId: contextId('Patient'),
  encounterId: z
    .string()
    .nullish()
    .transform((v) => (v ? v : undefined))
    .pipe(contextId('Encounter').optional()),
  draftOrders: draftOrdersSchema,
});

export const fhirAuthorizationSchema = z.looseObject({
  access_token: z.string({ error: 'access_token must be a string' }),
});

export const hookRequestSchema = z
  .looseObject({
    hook: nonEmpty,
    hookInstance: nonEmpty.max(200, 'must be at most 200 characters'),
    fhirServer: baseUrl.nullish(),
    fhirAuthorization: fhirAuthorizationSchema.nullish(),
    context: orderSignContextSchema,
    prefetch: z.record(z.string(), z.unknown()).nullish(),
    extension: z.record(z.string(), z.unknown()).nullish(),
  })
  .superRefine((req, ctx) => {
    if (req.fhirAuthorization && !req.fhirServer) {
      ctx.addIssue({
        code: 'custom',
        path: ['fhirServer'],
        message: 'fhirServer is required when fhirAuthorization is present',
      });
    }
  });

export type HookRequest = z.infer<typeof hookRequestSchema>;
export type OrderSignContext = z.infer<typeof orderSignContextSchema>;

const feedbackItemSchema = z.looseObject({
  card: nonEmpty,
  outcome: z.enum(['accepted', 'overridden']),
  acceptedSuggestions: z.array(z.looseObject({ id: nonEmpty })).optional(),
  overrideReason: z.looseObject({}).optional(),
  outcomeTimestamp: nonEmpty,
});

/** A bound on one call's entries: each is a row written in the call's transaction. */
export const MAX_FEEDBACK_ENTRIES = 100;

export const feedbackSchema = z.looseObject({
  feedback: z
    .array(feedbackItemSchema)
    .min(1)
    .max(MAX_FEEDBACK_ENTRIES, `at most ${MAX_FEEDBACK_ENTRIES} entries per call: send the rest in another call`),
});
export type Feedback = z.infer<typeof feedbackSchema>;

export function schemaFailure(error: z.ZodError): Failure {
  return {
    status: 422,
    outcome: operationOutcome(
      error.issues.slice(0, 20).map((i) => {
        const path = issuePath(i.path);
        return {
          code: 'invalid' as const,
          diagnostics: path ? `${path}: ${i.message}` : i.message,
          ...(path ? { expression: [path] } : {}),
        };
      }),
    ),
  };
}

export function parseWith<T>(
  schema: z.ZodType<T>,
  body: unknown,
): { ok: true; value: T } | { ok: false; failure: Failure } {
  const parsed = schema.safeParse(body);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, failure: schemaFailure(parsed.error) };
}

export const unprocessable = (path: string, message: string): Failure =>
  failure(422, 'invalid', `${path}: ${message}`, [path]);
