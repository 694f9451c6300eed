/** FHIR OperationOutcome values for HTTP answers; the engine returns these as values, the server boundary sends them. */

export type IssueType =
  | 'structure'
  | 'invalid'
  | 'required'
  | 'not-found'
  | 'not-supported'
  | 'too-long'
  | 'incomplete'
  | 'login'
  | 'exception';

export interface Failure {
  readonly status: number;
  readonly outcome: fhir4.OperationOutcome;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface IssueInput {
  code: IssueType;
  diagnostics: string;
  expression?: string[];
}

export function operationOutcome(issues: IssueInput[]): fhir4.OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i) => ({
      severity: 'error',
      code: i.code,
      diagnostics: i.diagnostics,
      ...(i.expression && i.expression.length > 0 ? { expression: i.expression } : {}),
    })),
  };
}

export function failure(status: number, code: IssueType, diagnostics: string, expression?: string[]): Failure {
  return { status, outcome: operationOutcome([{ code, diagnostics, ...(expression ? { expression } : {}) }]) };
}

export const badJson = (detail: string): Failure =>
  failure(400, 'structure', `Request body is not parsable JSON: ${detail}`);

export const notFound = (what: string): Failure => failure(404, 'not-found', what);

export const methodNotAllowed = (allowed: readonly string[]): Failure => ({
  ...failure(405, 'not-supported', `Method not allowed; use ${allowed.join(', ')}`),
  headers: { Allow: [...allowed, 'OPTIONS'].join(', ') },
});

export const tooLarge = (limit: string): Failure =>
  failure(413, 'too-long', `Request body exceeds the limit of ${limit}`);

export const internalError = (): Failure =>
  failure(500, 'exception', 'The service could not process the request; the error has been logged');
