import { z } from 'zod';

/** The clinician-facing wording of a hook service (hooks/<name>/cards.yaml). */

const nonEmpty = z.string().trim().min(1);
const outcomes = <T extends z.ZodType>(t: T) =>
  z.strictObject({
    covered: t,
    'documentation-needed': t,
    'not-medically-necessary': t,
    investigative: t,
    'no-coverage': t,
  });

export const cardTextsSchema = z.strictObject({
  policyName: nonEmpty,
  /** How clinicians call the order codes the service answers for ("CPT"). */
  codeLabel: nonEmpty,
  policyUrl: z.url().optional(),
  procedureNames: z.record(nonEmpty, nonEmpty),
  summaries: outcomes(nonEmpty),
  methodNoteCodes: z.array(nonEmpty).default([]),
  methodNote: nonEmpty,
  nextSteps: outcomes(nonEmpty),
  /** The one thing to do on a documentation-needed card ({todo} in its summary). */
  todo: z.strictObject({
    /** {count} questions, {s} the plural ending. */
    questions: nonEmpty,
    /** {criteria} where the record and the attested answer disagree. */
    conflict: nonEmpty,
    /** Data the EHR could not provide. */
    data: nonEmpty,
  }),
  priorAuthorization: z.strictObject({
    summary: nonEmpty,
    portal: z.url(),
    phone: nonEmpty,
    turnaround: nonEmpty,
  }),
  overrideReasons: z.array(z.strictObject({ code: z.string().regex(/^[a-z0-9-]+$/), display: nonEmpty })).min(1),
});

export type CardTexts = z.infer<typeof cardTextsSchema>;

/** Fills {placeholders}; a summary that would reach 140 characters is shortened at a word boundary. */
export function fill(template: string, values: Record<string, string>, max?: number): string {
  const text = template
    .replace(/\{(\w+)\}/g, (_m, key: string) => values[key] ?? '')
    .replace(/\s+/g, ' ')
    .trim();
  if (max === undefined || text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), max / 2)).replace(/[;,:]$/, '')}…`;
}
