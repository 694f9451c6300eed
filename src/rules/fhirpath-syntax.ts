import fhirpath from 'fhirpath';

/** What an expression refers to, read from fhirpath.js's syntax tree (so comments and string literals never count). */

interface SyntaxNode {
  readonly type: string;
  readonly text?: string;
  readonly children?: readonly SyntaxNode[];
}

/** The syntax tree, or undefined when the expression does not parse (compiling it reports why). */
function syntaxTree(expression: string): SyntaxNode | undefined {
  try {
    return fhirpath.parse(expression) as SyntaxNode;
  } catch {
    return undefined;
  }
}

function* nodes(node: SyntaxNode): Generator<SyntaxNode> {
  yield node;
  for (const child of node.children ?? []) yield* nodes(child);
}

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', f: '\f' };

/** The value of a quoted literal or delimited identifier: `'mg/dL'`, `` `my-name` ``. */
function unquote(text: string): string {
  const quoted = /^(['`])(.*)\1$/s.exec(text);
  if (!quoted) return text;
  return (quoted[2] ?? '').replace(
    /\\u([0-9a-fA-F]{4})|\\(.)/g,
    (_m, hex: string | undefined, c: string | undefined) =>
      hex ? String.fromCharCode(parseInt(hex, 16)) : (ESCAPES[c ?? ''] ?? c ?? ''),
  );
}

function child(node: SyntaxNode | undefined, type: string): SyntaxNode | undefined {
  return node?.children?.find((c) => c.type === type);
}

export interface ExpressionSyntax {
  /** The `%name`s the expression refers to, in order of appearance, each once. */
  readonly references: readonly string[];
  /** The string arguments of every call of `fn` whose sole argument is a string literal: `inValueSet('list')`. */
  literalArguments(fn: string): string[];
}

function references(all: readonly SyntaxNode[]): string[] {
  const names = all
    .filter((n) => n.type === 'ExternalConstant')
    .flatMap((n) => {
      const name = n.children?.[0];
      return name?.text === undefined ? [] : [unquote(name.text)];
    });
  return [...new Set(names)];
}

function literalsOf(all: readonly SyntaxNode[], fn: string): string[] {
  return all
    .filter((n) => n.type === 'Functn' && child(n, 'Identifier')?.text === fn)
    .flatMap((n) => {
      const params = child(n, 'ParamList')?.children ?? [];
      const literal = params.length === 1 ? child(child(params[0], 'LiteralTerm'), 'StringLiteral') : undefined;
      return literal?.text === undefined ? [] : [unquote(literal.text)];
    });
}

/** The expression parsed once; an expression that does not parse refers to nothing (compiling it says why). */
export function expressionSyntax(expression: string): ExpressionSyntax {
  const tree = syntaxTree(expression);
  const all = tree ? [...nodes(tree)] : [];
  return { references: references(all), literalArguments: (fn) => literalsOf(all, fn) };
}

export const variableReferences = (expression: string): string[] => [...expressionSyntax(expression).references];

export const literalArguments = (expression: string, fn: string): string[] =>
  expressionSyntax(expression).literalArguments(fn);
