import { isFhirId } from '../fhir/schemas.js';

/**
 * Prefetch templates (CDS Hooks 2.0 §Prefetch Template): validation at load, expansion per request,
 * and what the discovery document advertises.
 */

export interface TokenContext {
  readonly userId: string;
  readonly patientId: string;
  readonly encounterId?: string | undefined;
}

export type TemplateTarget = { kind: 'read' | 'search'; resourceType: string };

const TOKEN = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Root-level primitive context fields of order-sign and the user-derived tokens CDS Hooks 2.0 defines. */
export const ORDER_SIGN_TOKENS: readonly string[] = [
  'context.userId',
  'context.patientId',
  'context.encounterId',
  'userPractitionerId',
  'userPractitionerRoleId',
  'userPatientId',
  'userRelatedPersonId',
];

const USER_TOKENS: Record<string, string> = {
  userPractitionerId: 'Practitioner',
  userPractitionerRoleId: 'PractitionerRole',
  userPatientId: 'Patient',
  userRelatedPersonId: 'RelatedPerson',
};

export function templateTokens(template: string): string[] {
  return [...template.matchAll(TOKEN)].map((m) => m[1] ?? '');
}

export function templateTarget(template: string): TemplateTarget | undefined {
  const read = /^([A-Z][A-Za-z]+)\/[^/?]+$/.exec(template);
  if (read?.[1]) return { kind: 'read', resourceType: read[1] };
  const search = /^([A-Z][A-Za-z]+)\?[^?]+$/.exec(template);
  if (search?.[1]) return { kind: 'search', resourceType: search[1] };
  return undefined;
}

/** Why a template is not a valid CDS Hooks 2.0 prefetch template, or undefined when it is valid. */
export function templateProblem(template: string, allowedTokens: readonly string[]): string | undefined {
  if (!templateTarget(template)) {
    return `"${template}" is neither a read (Type/{{token}}) nor a search (Type?param=value)`;
  }
  const unbalanced = template.replace(TOKEN, '');
  if (unbalanced.includes('{{') || unbalanced.includes('}}')) return `"${template}" has an unbalanced {{ or }}`;
  for (const token of templateTokens(template)) {
    if (!allowedTokens.includes(token)) {
      return `token {{${token}}} is not a root-level prefetch token (allowed: ${allowedTokens
        .map((t) => `{{${t}}}`)
        .join(', ')})`;
    }
  }
  return undefined;
}

/** Token values are ids; anything else (an empty value, `..`, a URL) cannot be put in a query. */
function asId(value: string | undefined): string | undefined {
  return value !== undefined && isFhirId(value) ? value : undefined;
}

function tokenValue(token: string, context: TokenContext): string | undefined {
  return asId(rawTokenValue(token, context));
}

function rawTokenValue(token: string, context: TokenContext): string | undefined {
  switch (token) {
    case 'context.userId':
      return context.userId;
    case 'context.patientId':
      return context.patientId;
    case 'context.encounterId':
      return context.encounterId;
    default: {
      const type = USER_TOKENS[token];
      if (!type) return undefined;
      const [userType, userIdPart, ...rest] = context.userId.split('/');
      return userType === type && userIdPart && rest.length === 0 ? userIdPart : undefined;
    }
  }
}

/**
 * The template with its tokens replaced by URL-encoded context values, or undefined when a token has no value
 * (e.g. {{userPractitionerId}} when the user is a PractitionerRole): such a query cannot be run.
 */
export function expandTemplate(template: string, context: TokenContext): string | undefined {
  const missing: string[] = [];
  const expanded = template.replace(TOKEN, (_m, token: string) => {
    const value = tokenValue(token.trim(), context);
    if (value === undefined) {
      missing.push(token);
      return '';
    }
    return value;
  });
  return missing.length > 0 ? undefined : expanded;
}
