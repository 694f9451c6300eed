import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, describe, expect, test } from 'vitest';
import { loadRegistry } from '../src/cds-hooks/registry.js';
import { configFrom } from '../src/server/config.js';
import { literalArguments, variableReferences } from '../src/rules/fhirpath-syntax.js';
import { loadPolicy } from '../src/rules/policy.js';
import { buildQuestionnaire } from '../src/rules/questionnaire.js';
import { unitAliases, valueIn } from '../src/rules/units.js';
import { testApp, shippedRegistry } from './support/app.js';
import { allResults, runScenario, scenarioFiles } from './support/scenarios.js';

const HOOKS = configFrom().hooksDir;
const policy = shippedRegistry().get('cryoablation-order-sign')!.policy;
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function folderWith(file: string, edit: (text: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), 'policy-'));
  dirs.push(dir);
  cpSync(join(HOOKS, 'cryoablation'), join(dir, 'cryoablation'), { recursive: true });
  const path = join(dir, 'cryoablation', file);
  writeFileSync(path, edit(readFileSync(path, 'utf8')));
  return join(dir, 'cryoablation');
}

function loadErrors(folder: string): string {
  const result = loadPolicy(folder);
  if (result.ok) throw new Error('expected the policy to be rejected');
  return result.errors.join('\n');
}

describe('policy loading fails start-up with the file and the node id', () => {
  test.each([
    [
      'an unknown definition name',
      'criteria.yaml',
      (t: string) =>
        t.replace('%renalInsufficiency, {}) | %solitaryKidney', '%renalInsufficency, {}) | %solitaryKidney'),
      /criteria\.yaml: V\.B \(met\): unknown name %renalInsufficency/,
    ],
    [
      'an unknown code list',
      'criteria.yaml',
      (t: string) => t.replace("coded('desmoid-listed-location')", "coded('desmoid-sites')"),
      /criteria\.yaml: VIII\.B \(met\): unknown code list 'desmoid-sites'/,
    ],
    [
      'an invalid UCUM unit',
      'criteria.yaml',
      (t: string) => t.replace("valueIn('ng/mL') < 10", "valueIn('ng per ml') < 10"),
      /criteria\.yaml: IV\.B\.2 \(met\): 'ng per ml' is not a valid UCUM unit/,
    ],
    [
      'FHIRPath that does not compile',
      'criteria.yaml',
      (t: string) => t.replace("met: '%activeCoverages'", "met: '%activeCoverages.where('"),
      /criteria\.yaml: GEN\.benefits \(met\): FHIRPath does not compile/,
    ],
    [
      'a sameAs to no definition',
      'criteria.yaml',
      (t: string) => t.replace('sameAs: DEF.biochemical-failure', 'sameAs: DEF.biochemical'),
      /criteria\.yaml: IV\.B\.1: sameAs DEF\.biochemical is not a policy definition node/,
    ],
    [
      'a node id used twice',
      'criteria.yaml',
      (t: string) => t.replace('- id: II.D\n', '- id: II.C\n'),
      /criteria\.yaml: II\.C: id used twice/,
    ],
    [
      'a definition with an unknown name',
      'definitions.yaml',
      (t: string) => t.replace('psaResults: "%observations', 'psaResults: "%observation'),
      /definitions\.yaml: definitions\.psaResults: unknown name %observation/,
    ],
    [
      'circular definitions',
      'definitions.yaml',
      (t: string) => t.replace('ebrt: "%procedures.coded', 'ebrt: "%radiationEnd | %procedures.coded'),
      /definitions\.yaml: definitions\.\w+: circular reference/,
    ],
    [
      'a code list without codes',
      'code-lists.yaml',
      (t: string) => t.replace(/( {2}n0:\n(?: {4}.*\n)*? {4}codes:)\n(?: {6}- .*\n)+/, '$1 []\n'),
      /code-lists\.yaml: lists\.n0: a list needs at least one code or prefix/,
    ],
  ])('%s', (_name, file, edit, expected) => {
    expect(loadErrors(folderWith(file, edit))).toMatch(expected);
  });

  test('the registry refuses to start with such a policy, naming the file', () => {
    const folder = folderWith('criteria.yaml', (t) =>
      t.replace('%renalInsufficiency, {}) | %solitaryKidney', '%nope, {}) | %solitaryKidney'),
    );
    const result = loadRegistry(join(folder, '..'));
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.errors.join('\n')).toMatch(/cryoablation\/criteria\.yaml: V\.B \(met\): unknown name %nope/);
  });

  test('a scope section that the policy does not define is refused', () => {
    const folder = folderWith('service.yaml', (t) => t.replace("'50593': [V]", "'50593': [V, IX]"));
    const result = loadRegistry(join(folder, '..'));
    expect(!result.ok && result.errors.join('\n')).toMatch(
      /service\.yaml: scope\.orderCodes\.0\.codes\.50593: unknown policy section IX/,
    );
  });

  test('%names inside string literals are not references', () => {
    expect(variableReferences("%a.where(x = '%not-a-name') | %b")).toEqual(['a', 'b']);
  });

  test('%names inside comments are not references', () => {
    expect(variableReferences('%a // and %notAName\n| %b /* nor %this */')).toEqual(['a', 'b']);
  });

  test("a comment naming an unknown %name in a criterion's expression loads; a real unknown name still fails", () => {
    const withComment = (name: string) => (t: string) =>
      t.replace(
        '"iif(%normalRenalFunction.empty(), %renalInsufficiency, {}) | %solitaryKidney"',
        `"iif(%normalRenalFunction.empty(), %renalInsufficiency, {}) /* see %noSuchName */ | ${name} // or %another"`,
      );
    const commented = loadPolicy(folderWith('criteria.yaml', withComment('%solitaryKidney')));
    expect(commented.ok ? [] : commented.errors).toEqual([]);
    expect(loadErrors(folderWith('criteria.yaml', withComment('%solitaryKidny')))).toMatch(
      /criteria\.yaml: V\.B \(met\): unknown name %solitaryKidny/,
    );
    expect(loadErrors(folderWith('criteria.yaml', withComment('%solitaryKidny')))).not.toMatch(/noSuchName|another/);
  });

  test('code list and unit arguments are read from the syntax tree', () => {
    expect(literalArguments("code.inValueSet('a') and x.inValueSet( 'b' ) // inValueSet('c')", 'inValueSet')).toEqual([
      'a',
      'b',
    ]);
    expect(literalArguments("value.valueIn('mg/dL') > 1 and '.valueIn(\\'x\\')'.exists()", 'valueIn')).toEqual([
      'mg/dL',
    ]);
  });
});

describe('a FHIRPath error in a leaf makes that leaf unknown, not the request fail', () => {
  test('comparing a CodeableConcept with a number throws in fhirpath.js; V.C becomes unknown with a note', async () => {
    const folder = folderWith('criteria.yaml', (t) =>
      t.replace(`notMet: '%stageGroupBelowIv'`, 'notMet: "%order.code < 5"'),
    );
    const loaded = loadRegistry(join(folder, '..'));
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    const scenario = scenarioFiles().find((s) => s.name === 'tumor-3cm-covered')!;
    const [decision] = await runScenario(loaded.registry.get('cryoablation-order-sign')!, scenario.fixture);
    const vc = allResults(decision!).find((r) => r.id === 'V.C');
    expect(vc?.state).toBe('unknown');
    expect(vc?.notes.join()).toMatch(/could not be evaluated/);
    expect(decision!.outcome).toBe('covered');
  });
});

describe('quantities compare by UCUM conversion, never across incompatible units', () => {
  const aliases = unitAliases({ 'mL/min/{1.73_m2}': ['mL/min/1.73m2'] });
  const ucum = (value: number, code: string) => ({ value, unit: code, system: 'http://unitsofmeasure.org', code });
  test.each([
    ['35 mm in cm', ucum(35, 'mm'), 'cm', 3.5],
    ['4 cm in cm', ucum(4, 'cm'), 'cm', 4],
    ['2.5 ug/L in ng/mL', ucum(2.5, 'ug/L'), 'ng/mL', 2.5],
    ['PSA in nmol/L cannot become ng/mL', ucum(0.3, 'nmol/L'), 'ng/mL', undefined],
    ['a length is not a mass concentration', ucum(3, 'cm'), 'ng/mL', undefined],
    ['an eGFR spelt mL/min/1.73m2', { value: 48, unit: 'mL/min/1.73m2' }, 'mL/min/{1.73_m2}', 48],
    ['a value without a unit', { value: 48 }, 'mL/min/{1.73_m2}', undefined],
    ['a value with a comparator', { ...ucum(0.1, 'ng/mL'), comparator: '<' }, 'ng/mL', undefined],
    ['a free-text unit that is not UCUM', { value: 3, unit: 'centimeters' }, 'cm', undefined],
  ])('%s', (_name, quantity, unit, expected) => {
    const v = valueIn(quantity, unit, aliases);
    if (expected === undefined) expect(v).toBeUndefined();
    else expect(v).toBeCloseTo(expected, 10);
  });
});

describe('the criteria tree follows the policy', () => {
  const outline = readFileSync(new URL('./vectors/criteria-outline.md', import.meta.url), 'utf8');
  const normalize = (t: string) => t.replace(/\s+/g, ' ').trim();
  const policyText = normalize(policy.text);

  test('every labelled criterion of the policy outline maps to exactly one node', () => {
    const labels = [...outline.matchAll(/^\s*- \*\*([IVX]+(?:\.[A-Z](?:\.\d)?)?)\*\*/gm)].map((m) => m[1]!);
    expect(labels.length).toBeGreaterThan(40);
    expect(labels.filter((l) => !policy.nodes.has(l))).toEqual([]);
    expect(new Set(labels).size).toBe(labels.length);
  });

  test('every unlabelled predicate of the outline is a node (prior authorization is the policy rule itself)', () => {
    const ids = [...outline.matchAll(/\[`([A-Z][A-Za-z.-]+)`/g)]
      .map((m) => m[1]!)
      .filter((id) => id !== policy.priorAuthorization.id);
    expect(ids.length).toBeGreaterThan(10);
    expect(ids.filter((id) => !policy.nodes.has(id))).toEqual([]);
  });

  test("each node's quoted words appear in the policy", () => {
    const missing = [...policy.nodes.values()]
      .filter((n) => !policyText.includes(normalize(n.text)))
      .map((n) => `${n.id}: ${n.text}`);
    expect(missing).toEqual([]);
    expect(policyText).toContain(normalize(policy.priorAuthorization.text));
  });

  test('every criterion without labelled children is attestable as a whole (a yes/no question)', () => {
    const leaves = policy.sections.flatMap((s) => {
      const collect = (n: typeof s.node): (typeof s.node)[] => (n.kind === 'leaf' ? [n] : n.children.flatMap(collect));
      return collect(s.node);
    });
    expect(leaves.filter((l) => !l.question).map((l) => l.id)).toEqual([]);
  });
});

describe('the documentation Questionnaire is generated from the tree', () => {
  const q = buildQuestionnaire(policy);

  // Issue 9: the canonical is the policy's own (criteria.yaml questionnaire.url), not under the service's base URL.
  test("is an R4 Questionnaire with the policy's stable canonical URL and a version", () => {
    expect(q).toMatchObject({
      resourceType: 'Questionnaire',
      id: 'cryoablation-medical-necessity',
      url: 'https://fhir.aspirushealthplan.example/Questionnaire/cryoablation-medical-necessity',
      version: '1.0.0',
      status: 'active',
    });
    expect(q.name).toMatch(/^[A-Z][A-Za-z0-9]*$/);
  });

  test('asks the indication, the body site, then each section enabled by it (a group, or one item for a single-criterion section), then the attestation', () => {
    const items = q.item ?? [];
    expect(items[0]).toMatchObject({ linkId: 'indication', type: 'choice', required: true });
    expect(items[0]?.answerOption?.map((o) => o.valueCoding?.code)).toEqual([
      'I',
      'II',
      'III',
      'IV',
      'V',
      'VI',
      'VII',
      'VIII',
      'other',
    ]);
    expect(items[1]).toMatchObject({ linkId: 'body-site', type: 'open-choice', repeats: true });
    const exclusionItems = [...policy.exclusions]
      .flatMap((e) => [...e.children])
      .filter((n) => n.question)
      .map((n) => n.id);
    expect(items.slice(-1 - exclusionItems.length, -1).map((i) => i.linkId)).toEqual(exclusionItems);
    const sections = items.slice(2, -1 - exclusionItems.length);
    expect(sections.map((g) => [g.linkId, g.type])).toEqual([
      ['I', 'boolean'],
      ['II', 'group'],
      ['III', 'group'],
      ['IV', 'group'],
      ['V', 'group'],
      ['VI', 'group'],
      ['VII', 'group'],
      ['VIII', 'group'],
    ]);
    for (const g of sections)
      expect(g.enableWhen).toEqual([
        expect.objectContaining({
          question: 'indication',
          operator: '=',
          answerCoding: expect.objectContaining({ code: g.linkId }),
        }),
      ]);
    expect(items.at(-1)).toMatchObject({ linkId: 'attestation', type: 'boolean', required: true });
  });

  test('every linkId is unique (FHIR que-2)', () => {
    const all = (items: fhir4.QuestionnaireItem[]): string[] => items.flatMap((i) => [i.linkId, ...all(i.item ?? [])]);
    const ids = all(q.item ?? []);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('holds one yes/no item per attestable criterion, linkId = criterion id, and nothing else', () => {
    const booleans = (q.item ?? [])
      .slice(2, -1)
      .filter((i) => !i.linkId.startsWith('EX.'))
      .flatMap((g) => (g.type === 'group' ? (g.item ?? []) : [g]));
    const attestable = [...policy.nodes.values()].filter(
      (n) =>
        n.kind === 'leaf' &&
        n.question &&
        policy.sections.some((s) => s.node.id === n.id || n.id.startsWith(`${s.node.id}.`)),
    );
    expect(booleans.every((i) => i.type === 'boolean')).toBe(true);
    expect(booleans.map((i) => i.linkId).sort()).toEqual(attestable.map((n) => n.id).sort());
    expect(booleans.find((i) => i.linkId === 'IV.B.3')?.text).toBe(
      "Is the member's life expectancy greater than 10 years?",
    );
  });

  test('is served publicly at GET /fhir/Questionnaire/{id}; an unknown id is a 404 OperationOutcome', async () => {
    const { app } = testApp({ CDS_PUBLIC_BASE_URL: 'https://crd.example.org' });
    const res = await request(app).get('/fhir/Questionnaire/cryoablation-medical-necessity');
    expect(res.status).toBe(200);
    expect(res.type).toBe('application/fhir+json');
    expect(res.body).toEqual(q);
    const missing = await request(app).get('/fhir/Questionnaire/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.resourceType).toBe('OperationOutcome');
  });
});
