import type { z } from 'zod';

/** The one formatter of zod issues, for HTTP answers and for start-up messages alike. */

/**
 * Where an issue is. `json`, as CDS Hooks clients read an OperationOutcome expression:
 * `context.draftOrders.entry[0].resource`. `key`, as the keys of a file or the environment are written:
 * `scope.orderCodes.0.system`.
 */
export function issuePath(path: readonly PropertyKey[], style: 'json' | 'key'): string {
  return path.reduce<string>((acc, part) => {
    if (style === 'json' && typeof part === 'number') return `${acc}[${part}]`;
    return acc === '' ? String(part) : `${acc}.${String(part)}`;
  }, '');
}

/** One line per issue, `<where>: <path>: <message>`; an issue on the whole value is at `(root)`. */
export function issueLines(error: z.ZodError, where?: string): string[] {
  return error.issues.map((i) => {
    const line = `${issuePath(i.path, 'key') || '(root)'}: ${i.message}`;
    return where === undefined ? line : `${where}: ${line}`;
  });
}
