import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { ORDER_SIGN_TOKENS, expandTemplate, templateProblem } from '../src/cds-hooks/prefetch.js';

interface Vectors {
  validity: { template: string; valid?: true; problem?: string }[];
  expansion: {
    template: string;
    context: { userId: string; patientId: string; encounterId?: string };
    expanded: string | null;
  }[];
}

const vectors = parse(readFileSync(new URL('./vectors/prefetch-templates.yaml', import.meta.url), 'utf8')) as Vectors;

describe('prefetch template validity', () => {
  test.each(vectors.validity)('$template', ({ template, valid, problem }) => {
    const found = templateProblem(template, ORDER_SIGN_TOKENS);
    if (valid) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });
});

describe('prefetch template expansion', () => {
  test.each(vectors.expansion)('$template with $context', ({ template, context, expanded }) => {
    expect(expandTemplate(template, context) ?? null).toBe(expanded);
  });
});
