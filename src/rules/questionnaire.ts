import { ATTESTATION_LINK_ID, BODY_SITE_LINK_ID } from './attestation.js';
import { INDICATION_LINK_ID } from './decision.js';
import type { Policy, PolicyNode } from './policy.js';

/**
 * The documentation Questionnaire, generated from the criteria tree so it can never drift from the rules: an
 * indication choice, the body site it is given for (ruling R4: unlinked answers apply only to the same site), one group per section (enabled by that indication) holding a yes/no item per attestable
 * criterion (linkId = criterion id), and a closing attestation.
 */

/** The canonical URL the policy declares (criteria.yaml questionnaire.url): the same on every host and port. */
export function questionnaireUrl(policy: Policy): string {
  return policy.questionnaire.url;
}

/** The canonical with its version, as coverage-information and DTR refer to it. */
export function questionnaireCanonical(policy: Policy): string {
  return `${questionnaireUrl(policy)}|${policy.questionnaire.version}`;
}

/** The code system of the indication answers, derived from the canonical, so it is as stable. */
export function indicationSystem(policy: Policy): string {
  return `${questionnaireUrl(policy)}/indication`;
}

/** Whether a Questionnaire search (`url`, optional `version`) matches the policy's Questionnaire. */
export function questionnaireMatches(policy: Policy, url: string, version: string | undefined): boolean {
  const [base, pinned] = url.split('|');
  const wanted = version ?? pinned;
  return base === questionnaireUrl(policy) && (wanted === undefined || wanted === policy.questionnaire.version);
}

function attestable(node: PolicyNode): PolicyNode[] {
  if (node.kind === 'leaf') return node.question ? [node] : [];
  return node.children.flatMap(attestable);
}

export function buildQuestionnaire(policy: Policy): fhir4.Questionnaire {
  const q = policy.questionnaire;
  const system = indicationSystem(policy);
  const sectionCoding = (node: PolicyNode): fhir4.Coding => ({ system, code: node.id, display: node.text });
  const enabledBy = (node: PolicyNode) => [
    { question: INDICATION_LINK_ID, operator: '=' as const, answerCoding: sectionCoding(node) },
  ];
  const boolean = (leaf: PolicyNode): fhir4.QuestionnaireItem => ({
    linkId: leaf.id,
    type: 'boolean',
    text: leaf.question ?? leaf.text,
    prefix: leaf.id,
  });
  // A section that is a single criterion is asked as that one item: a group of the same linkId would break que-2.
  const groups: fhir4.QuestionnaireItem[] = policy.sections.map(({ node }) =>
    node.kind === 'leaf'
      ? { ...boolean(node), enableWhen: enabledBy(node) }
      : {
          linkId: node.id,
          type: 'group',
          text: `${node.id}. ${node.text}`,
          enableWhen: enabledBy(node),
          item: attestable(node).map(boolean),
        },
  );
  return {
    resourceType: 'Questionnaire',
    id: q.id,
    url: questionnaireUrl(policy),
    version: q.version,
    name: q.id.replace(/[^A-Za-z0-9]+(.)/g, (_m, c: string) => c.toUpperCase()).replace(/^./, (c) => c.toUpperCase()),
    title: q.title,
    status: 'active',
    subjectType: ['Patient'],
    item: [
      {
        linkId: INDICATION_LINK_ID,
        type: 'choice',
        text: q.indicationQuestion,
        required: true,
        answerOption: [
          ...policy.sections.map(({ node }) => ({ valueCoding: sectionCoding(node) })),
          { valueCoding: { system, code: 'other', display: q.otherIndication } },
        ],
      },
      {
        linkId: BODY_SITE_LINK_ID,
        type: 'open-choice',
        text: 'Body site and laterality of the lesion to be treated (when the order is for one site)',
        repeats: true,
      },
      ...groups,
      // Attestable criteria of the exclusions (e.g. the method of a code that describes any method), always enabled.
      ...policy.exclusions.flatMap(attestable).map(boolean),
      { linkId: ATTESTATION_LINK_ID, type: 'boolean', text: q.attestation, required: true },
    ],
  };
}
