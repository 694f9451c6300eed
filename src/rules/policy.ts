import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import type { z } from 'zod';
import { codeLists, displayLookup, type CodeList } from './code-lists.js';
import type { DisplayLookup } from './evidence.js';
import { ENGINE_VARIABLES, FHIRPATH_VARIABLES, SECTION_VARIABLES, type Environment } from './environment.js';
import { compileClosure, type Closure } from './fhirpath-closures.js';
import { functionTable } from './fhirpath-functions.js';
import { expressionSyntax, variableReferences } from './fhirpath-syntax.js';
import {
  codeListsSchema,
  criteriaSchema,
  definitionsSchema,
  type CriteriaFile,
  type EvidenceFile,
  type NodeDefinition,
  type NodeState,
} from './policy-schema.js';
import { isValidUcum, unitAliases } from './units.js';
import { errorMessage } from './errors.js';
import type { EvidenceDeclaration } from './treated-condition.js';
import { readYamlFile } from './yaml-file.js';

/** A policy loaded from its hook folder, every FHIRPath expression compiled once. */

export const POLICY_FILES = {
  criteria: 'criteria.yaml',
  definitions: 'definitions.yaml',
  codeLists: 'code-lists.yaml',
} as const;

export interface CompiledExpression {
  readonly source: string;
  /** The %names it refers to. */
  readonly references: readonly string[];
  /** The closure when the expression is in its subset (rules/fhirpath-closures.ts), else fhirpath.js. */
  evaluate(env: Environment, definitions: Readonly<Record<string, unknown>>): unknown[];
  /** fhirpath.js alone (the differential test's reference). */
  evaluateWithFhirpath(env: Environment, definitions: Readonly<Record<string, unknown>>): unknown[];
  /** The closure alone, or undefined when the expression is outside its subset; it throws DECLINED to stand aside. */
  readonly closure?: Closure | undefined;
}

export interface PolicyNode {
  readonly id: string;
  readonly text: string;
  readonly note?: string | undefined;
  readonly question?: string | undefined;
  readonly kind: 'all' | 'any' | 'leaf';
  readonly children: readonly PolicyNode[];
  readonly met?: CompiledExpression | undefined;
  readonly notMet?: CompiledExpression | undefined;
  readonly sameAs?: string | undefined;
  readonly unreachable: Readonly<Partial<Record<NodeState, string>>>;
  readonly role?: string | undefined;
  /** The node the unmatched-indication exclusion requires met for a code without a section. */
  readonly requires?: string | undefined;
}

export interface PolicySection {
  readonly node: PolicyNode;
  readonly indication: PolicyNode;
}

export interface NamedDefinition {
  readonly name: string;
  readonly expression: CompiledExpression;
  /** Whether it depends on the order under review (else it is evaluated once per request). */
  readonly perOrder: boolean;
  /** Whether it depends on the section's treated condition (re-evaluated for a section whose evidence differs). */
  readonly perSection: boolean;
}

/** Engine variables that differ from one order to the next in the same request. */
const ORDER_VARIABLES = new Set<string>([
  'order',
  'indications',
  'indicationSource',
  'orderMethod',
  ...SECTION_VARIABLES,
]);

export interface Policy {
  readonly id: string;
  readonly title: string;
  readonly text: string;
  readonly questionnaire: CriteriaFile['questionnaire'];
  readonly priorAuthorization: CriteriaFile['priorAuthorization'];
  readonly general: readonly PolicyNode[];
  readonly definitionNodes: readonly PolicyNode[];
  readonly sections: readonly PolicySection[];
  readonly exclusions: readonly PolicyNode[];
  /** Named FHIRPath definitions in dependency order. */
  readonly definitions: readonly NamedDefinition[];
  readonly nodes: ReadonlyMap<string, PolicyNode>;
  /** Which evidence belongs to the treated condition (definitions.yaml `evidence`). */
  readonly evidence?: EvidenceDeclaration | undefined;
  /** The section variables and the definitions that depend on them. */
  readonly sectionDependent: ReadonlySet<string>;
  /** Displays of codes from the code lists, for evidence whose data carries none. */
  readonly displays: DisplayLookup;
}

export type PolicyResult = { ok: true; policy: Policy } | { ok: false; errors: string[] };

/**
 * The variables an expression sees: a definitions scope made by `definitionScope(env)` is used as it is (its own
 * properties shadow the engine variables it inherits, as the spread did); any other definitions object is merged.
 */
export function scopeOf(env: Environment, definitions: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.getPrototypeOf(definitions) === env.vars ? definitions : { ...env.vars, ...definitions };
}

/** An empty definitions object for one environment: one scope for all the expressions of a request's order. */
export function definitionScope(env: Environment): Record<string, unknown> {
  return Object.create(env.vars) as Record<string, unknown>;
}

interface Compiler {
  /** `leaf`: a criterion's met / notMet (its result is read by the engine, never by another expression). */
  compile(source: string, where: string, leaf?: boolean): CompiledExpression | undefined;
  readonly errors: string[];
}

function compiler(
  lists: ReadonlyMap<string, CodeList>,
  table: ReturnType<typeof functionTable>,
  known: ReadonlySet<string>,
): Compiler {
  const errors: string[] = [];
  return {
    errors,
    compile(source, where, leaf = false) {
      let problem = false;
      const syntax = expressionSyntax(source);
      const { references } = syntax;
      for (const name of references) {
        if (!known.has(name)) {
          errors.push(`${where}: unknown name %${name}`);
          problem = true;
        }
      }
      for (const list of [...syntax.literalArguments('inValueSet'), ...syntax.literalArguments('coded')]) {
        if (!lists.has(list)) {
          errors.push(`${where}: unknown code list '${list}'`);
          problem = true;
        }
      }
      for (const unit of syntax.literalArguments('valueIn')) {
        if (!isValidUcum(unit)) {
          errors.push(`${where}: '${unit}' is not a valid UCUM unit`);
          problem = true;
        }
      }
      let fn: (resource: unknown, vars: Record<string, unknown>) => unknown;
      try {
        fn = fhirpath.compile(source, r4, { userInvocationTable: table as never }) as typeof fn;
      } catch (e) {
        errors.push(`${where}: FHIRPath does not compile: ${errorMessage(e)}`);
        return undefined;
      }
      if (problem) return undefined;
      const withFhirpath = (env: Environment, definitions: Readonly<Record<string, unknown>>): unknown[] => {
        const out: unknown = fn(env.bundle, scopeOf(env, definitions));
        return Array.isArray(out) ? (out as unknown[]) : [out];
      };
      const closure = compileClosure(source, table, { leaf });
      return {
        source,
        references,
        evaluateWithFhirpath: withFhirpath,
        closure,
        evaluate: closure
          ? (env, definitions) => {
              try {
                return closure(scopeOf(env, definitions));
              } catch {
                // DECLINED (data outside the closure's subset), or anything unforeseen: fhirpath.js decides
                return withFhirpath(env, definitions);
              }
            }
          : withFhirpath,
      };
    },
  };
}

/** How messages name a policy folder: its last two path segments (`hooks/<policy>`). */
const shortName = (folder: string): string => folder.split('/').slice(-2).join('/');

function readFile<T>(folder: string, file: string, schema: z.ZodType<T>, errors: string[]): T | undefined {
  const result = readYamlFile(join(folder, file), `${shortName(folder)}/${file}`, schema);
  if (result.ok) return result.value;
  errors.push(...result.errors);
  return undefined;
}

function dependencyOrder(defs: Record<string, string>, errors: string[], file: string): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      errors.push(`${file}: definitions.${name}: circular reference ${[...path, name].join(' → ')}`);
      return;
    }
    state.set(name, 'visiting');
    for (const dep of variableReferences(defs[name] ?? '')) if (dep in defs) visit(dep, [...path, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of Object.keys(defs)) visit(name, []);
  return order;
}

function evidenceDeclaration(
  file: EvidenceFile,
  lists: ReadonlyMap<string, CodeList>,
  sectionIds: ReadonlySet<string>,
  where: string,
  errors: string[],
): EvidenceDeclaration {
  const resolve = (names: readonly string[], path: string): CodeList[] =>
    names.flatMap((name) => {
      const list = lists.get(name);
      if (!list) errors.push(`${where}.${path}: unknown code list '${name}'`);
      return list ? [list] : [];
    });
  const sides = file.sides
    ? { left: resolve([file.sides.left], 'sides.left')[0], right: resolve([file.sides.right], 'sides.right')[0] }
    : undefined;
  const sections = new Map(
    Object.entries(file.sections).map(([id, s]) => {
      if (!sectionIds.has(id)) errors.push(`${where}.sections.${id}: no such section`);
      return [
        id,
        {
          conditions: resolve(s.conditions, `sections.${id}.conditions`),
          organ: resolve(s.organ, `sections.${id}.organ`),
        },
      ] as const;
    }),
  );
  return {
    cancers: resolve(file.cancers, 'cancers'),
    secondaries: resolve(file.secondaries, 'secondaries'),
    observations: resolve(file.observations, 'observations'),
    sides: sides?.left && sides.right ? { left: sides.left, right: sides.right } : undefined,
    sections,
  };
}

export function loadPolicy(folder: string): PolicyResult {
  const errors: string[] = [];
  const criteria = readFile(folder, POLICY_FILES.criteria, criteriaSchema, errors);
  const definitions = readFile(folder, POLICY_FILES.definitions, definitionsSchema, errors);
  const lists = readFile(folder, POLICY_FILES.codeLists, codeListsSchema, errors);
  if (!criteria || !definitions || !lists) return { ok: false, errors };
  const folderName = shortName(folder);
  const criteriaFile = `${folderName}/${POLICY_FILES.criteria}`;
  const definitionsFile = `${folderName}/${POLICY_FILES.definitions}`;

  const textPath = join(folder, criteria.policy.textFile);
  if (!existsSync(textPath))
    errors.push(`${criteriaFile}: policy.textFile: ${criteria.policy.textFile} does not exist`);
  const text = existsSync(textPath) ? readFileSync(textPath, 'utf8') : '';

  const codeListMap = codeLists(lists);
  const table = functionTable(codeListMap, unitAliases(definitions.unitAliases));
  const known = new Set<string>([...ENGINE_VARIABLES, ...FHIRPATH_VARIABLES, ...Object.keys(definitions.definitions)]);
  const c = compiler(codeListMap, table, known);

  const ordered = dependencyOrder(definitions.definitions, errors, definitionsFile);
  const perOrder = new Set<string>();
  const sectionDependent = new Set<string>(SECTION_VARIABLES);
  const named = ordered.flatMap((name) => {
    const expression = c.compile(definitions.definitions[name] ?? '', `${definitionsFile}: definitions.${name}`);
    if (!expression) return [];
    const dependsOnOrder = expression.references.some((r) => ORDER_VARIABLES.has(r) || perOrder.has(r));
    if (dependsOnOrder) perOrder.add(name);
    const perSection = expression.references.some((r) => sectionDependent.has(r));
    if (perSection) sectionDependent.add(name);
    return [{ name, expression, perOrder: dependsOnOrder, perSection }];
  });

  const nodes = new Map<string, PolicyNode>();
  const build = (def: NodeDefinition & { role?: string | undefined; requires?: string | undefined }): PolicyNode => {
    if (nodes.has(def.id)) errors.push(`${criteriaFile}: ${def.id}: id used twice`);
    const children = (def.all ?? def.any ?? []).map(build);
    const node: PolicyNode = {
      id: def.id,
      text: def.text,
      note: def.note,
      question: def.question,
      kind: def.all ? 'all' : def.any ? 'any' : 'leaf',
      children,
      met: def.met === undefined ? undefined : c.compile(def.met, `${criteriaFile}: ${def.id} (met)`, true),
      notMet: def.notMet === undefined ? undefined : c.compile(def.notMet, `${criteriaFile}: ${def.id} (notMet)`, true),
      sameAs: def.sameAs,
      unreachable: def.unreachable ?? {},
      role: def.role,
      requires: def.requires,
    };
    nodes.set(node.id, node);
    return node;
  };
  const general = criteria.general.map(build);
  const definitionNodes = criteria.definitions.map(build);
  const sections = criteria.sections.map((s) => {
    const { indication, ...body } = s;
    return { node: build(body), indication: build(indication) };
  });
  const exclusions = criteria.exclusions.map(build);
  for (const node of nodes.values()) {
    if (node.requires && !nodes.has(node.requires))
      errors.push(`${criteriaFile}: ${node.id}: requires ${node.requires}, which is no node`);
    if (node.sameAs && !definitionNodes.some((d) => d.id === node.sameAs)) {
      errors.push(`${criteriaFile}: ${node.id}: sameAs ${node.sameAs} is not a policy definition node`);
    }
  }
  const evidence = definitions.evidence
    ? evidenceDeclaration(
        definitions.evidence,
        codeListMap,
        new Set(sections.map((s) => s.node.id)),
        `${definitionsFile}: evidence`,
        errors,
      )
    : undefined;
  errors.push(...c.errors);
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    policy: {
      id: criteria.policy.id,
      title: criteria.policy.title,
      text,
      questionnaire: criteria.questionnaire,
      priorAuthorization: criteria.priorAuthorization,
      general,
      definitionNodes,
      sections,
      exclusions,
      definitions: named,
      nodes,
      evidence,
      sectionDependent,
      displays: displayLookup(lists),
    },
  };
}

const sectionIndexes = new WeakMap<Policy, ReadonlyMap<string, string>>();

/** The section each node of a section (its indication included) belongs to, computed once per policy. */
export function sectionOfNode(policy: Policy): (id: string) => string | undefined {
  let index = sectionIndexes.get(policy);
  if (!index) {
    const map = new Map<string, string>();
    const visit = (n: PolicyNode, section: string): void => {
      map.set(n.id, section);
      n.children.forEach((c) => visit(c, section));
    };
    for (const s of policy.sections) {
      visit(s.node, s.node.id);
      visit(s.indication, s.node.id);
    }
    sectionIndexes.set(policy, (index = map));
  }
  const found = index;
  return (id) => found.get(id);
}
