import type { z } from 'zod';

/** The one formatter of zod issues, for HTTP answers and for start-up messages alike. */

/**
 * Where an issue is, in one style for request bodies, files and the environment alike, as CDS Hooks clients read an
 * OperationOutcome expression: `context.draftOrders.entry[0].resource`, `scope.orderCodes[0].system`.
 */
export function issuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, part) => {
    if (typeof part === 'number') return `${acc}[${part}]`;
    return acc === '' ? String(part) : `${acc}.${String(part)}`;
  }, '');
}

/** One line per issue, `<where>: <path>: <message>`; an issue on the whole value is at `(root)`. */
export function issueLines(error: z.ZodError, where?: string): string[] {
  return error.issues.map((i) => {
    const line = `${issuePath(i.path) || '(root)'}: ${i.message}`;
    return where === undefined ? line : `${where}: ${line}`;
  });
}
