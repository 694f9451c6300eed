import { z } from 'zod';

/**
 * Schemas of the policy files in a hook folder: the criteria tree (criteria.yaml), named FHIRPath
 * definitions (definitions.yaml) and named code lists (code-lists.yaml).
 */

const nonEmpty = z.string().trim().min(1);
export const nodeId = z
  .string()
  .regex(/^[A-Z][A-Za-z0-9]*(\.[A-Za-z0-9-]+)*$/, 'must look like II.E.1 or EX.I or DEF.name');
export type NodeState = 'met' | 'not-met' | 'unknown';

const unreachable = z
  .strictObject({ met: nonEmpty.optional(), 'not-met': nonEmpty.optional(), unknown: nonEmpty.optional() })
  .refine((u) => Object.keys(u).length > 0, 'name at least one state with the reason it cannot occur');

export interface NodeDefinition {
  id: string;
  text: string;
  note?: string | undefined;
  question?: string | undefined;
  met?: string | undefined;
  notMet?: string | undefined;
  sameAs?: string | undefined;
  all?: NodeDefinition[] | undefined;
  any?: NodeDefinition[] | undefined;
  unreachable?: Partial<Record<NodeState, string>> | undefined;
}

function checkNode(n: NodeDefinition, ctx: z.RefinementCtx): void {
  const group = (n.all ? 1 : 0) + (n.any ? 1 : 0);
  const leaf = n.met !== undefined || n.notMet !== undefined || n.sameAs !== undefined || n.question !== undefined;
  if (group > 1) ctx.addIssue({ code: 'custom', message: 'a node combines its children with all or any, not both' });
  if (group === 1 && (n.met || n.notMet || n.sameAs)) {
    ctx.addIssue({ code: 'custom', message: 'a group node has no met/notMet/sameAs of its own' });
  }
  if (group === 0 && !leaf) ctx.addIssue({ code: 'custom', message: 'a leaf needs met, notMet, sameAs or a question' });
}

const nodeShape = () => ({
  id: nodeId,
  /** The policy's own words for this criterion. */
  text: nonEmpty,
  /** Why the rule reads the policy the way it does (a medical director's reading). */
  note: nonEmpty.optional(),
  /** A yes/no attestation question; "yes" means the criterion is satisfied. */
  question: nonEmpty.optional(),
  /** FHIRPath whose non-empty result (the evidence) makes the leaf met. */
  met: nonEmpty.optional(),
  /** FHIRPath whose non-empty result (the evidence) makes the leaf not met. */
  notMet: nonEmpty.optional(),
  /** The leaf takes the state and evidence of a policy definition node. */
  sameAs: nodeId.optional(),
  all: z.array(nodeSchema).min(1).optional(),
  any: z.array(nodeSchema).min(1).optional(),
  unreachable: unreachable.optional(),
});

export const nodeSchema: z.ZodType<NodeDefinition> = z.lazy(() => z.strictObject(nodeShape()).superRefine(checkNode));

export interface SectionDefinition extends NodeDefinition {
  indication: NodeDefinition;
}
const sectionSchema: z.ZodType<SectionDefinition> = z
  .strictObject({ ...nodeShape(), indication: nodeSchema })
  .superRefine(checkNode);

export interface GeneralDefinition extends NodeDefinition {
  role?: 'coverage' | undefined;
}
const generalSchema: z.ZodType<GeneralDefinition> = z
  .strictObject({ ...nodeShape(), role: z.literal('coverage').optional() })
  .superRefine(checkNode);

export interface ExclusionDefinition extends NodeDefinition {
  role?: 'unmatched-indication' | undefined;
  requires?: string | undefined;
}
const exclusionSchema: z.ZodType<ExclusionDefinition> = z
  .strictObject({
    ...nodeShape(),
    role: z.literal('unmatched-indication').optional(),
    /**
     * For the unmatched-indication exclusion: a node (of another exclusion) that must be met before an order whose
     * code has no section is excluded (e.g. the order is done by the method the policy governs); while it is
     * unknown the exclusion is unknown, and when it is not met the exclusion does not apply.
     */
    requires: nodeId.optional(),
  })
  .superRefine((n, ctx) => (n.role ? undefined : checkNode(n, ctx)));

export const criteriaSchema = z.strictObject({
  policy: z.strictObject({
    id: z.string().regex(/^[a-z0-9-]+$/),
    title: nonEmpty,
    /** Where the policy text lives in the hook folder (rendered for clinicians, checked against node texts). */
    textFile: nonEmpty,
  }),
  questionnaire: z.strictObject({
    id: z.string().regex(/^[A-Za-z0-9-.]{1,64}$/, 'must be a FHIR id'),
    /**
     * The canonical URL: an identifier under the plan's own domain, the same wherever the service runs
     * (completed QuestionnaireResponses name it; the service resolves it at /fhir/Questionnaire).
     */
    url: z
      .url({ protocol: /^https?$/ })
      .refine(
        (u) => !/[|#?]/.test(u) && !u.endsWith('/'),
        'must be a canonical URL without version, query, fragment or trailing slash',
      ),
    version: nonEmpty,
    title: nonEmpty,
    indicationQuestion: nonEmpty,
    otherIndication: nonEmpty,
    attestation: nonEmpty,
    /** Days an attestation not linked to the order stays valid. */
    attestationMaxAgeDays: z.number().int().positive(),
  }),
  priorAuthorization: z.strictObject({ id: nodeId, text: nonEmpty, required: z.boolean(), note: nonEmpty.optional() }),
  general: z.array(generalSchema).min(1),
  definitions: z.array(nodeSchema).default([]),
  sections: z.array(sectionSchema).min(1),
  exclusions: z.array(exclusionSchema).default([]),
});

export type CriteriaFile = z.infer<typeof criteriaSchema>;

const listName = z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'code list names are kebab-case');

/**
 * Which evidence belongs to the condition an order treats (definitions.yaml `evidence`): the code lists that make
 * a Condition a cancer for the count of the member's neoplasms, the Observation codes that must be tied to the
 * treated condition (staging, size, status), the codes that name a side, and per section the conditions it treats
 * and the organ they lie in.
 */
export const evidenceSchema = z.strictObject({
  cancers: z.array(listName).min(1),
  /** Secondary sites: each belongs to its primary (linked, or the member's only cancer). */
  secondaries: z.array(listName).default([]),
  observations: z.array(listName).min(1),
  sides: z.strictObject({ left: listName, right: listName }).optional(),
  sections: z.record(
    nonEmpty,
    z.strictObject({ conditions: z.array(listName).min(1), organ: z.array(listName).default([]) }),
  ),
});
export type EvidenceFile = z.infer<typeof evidenceSchema>;

export const definitionsSchema = z.strictObject({
  /** Unit spellings seen in real data mapped to the UCUM unit they mean. */
  unitAliases: z.record(nonEmpty, z.array(nonEmpty).min(1)).default({}),
  definitions: z.record(z.string().regex(/^[a-z][A-Za-z0-9]*$/, 'definition names are camelCase'), nonEmpty),
  evidence: evidenceSchema.optional(),
});
export type DefinitionsFile = z.infer<typeof definitionsSchema>;

const codeEntry = z.strictObject({ system: z.url(), code: nonEmpty, display: nonEmpty.optional() });
const prefixEntry = z.strictObject({ system: z.url(), prefix: nonEmpty, display: nonEmpty.optional() });

export const codeListsSchema = z.strictObject({
  lists: z.record(
    z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'list names are kebab-case'),
    z
      .strictObject({
        description: nonEmpty,
        source: nonEmpty,
        note: nonEmpty.optional(),
        codes: z.array(codeEntry).default([]),
        prefixes: z.array(prefixEntry).default([]),
      })
      .refine((l) => l.codes.length + l.prefixes.length > 0, 'a list needs at least one code or prefix'),
  ),
});
export type CodeListsFile = z.infer<typeof codeListsSchema>;
