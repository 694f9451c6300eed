import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadRegistry } from '../src/cds-hooks/registry.js';
import { configFrom } from '../src/server/config.js';

const HOOKS = configFrom().hooksDir;
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function hooksCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hooks-'));
  dirs.push(dir);
  cpSync(HOOKS, dir, { recursive: true });
  return dir;
}

function mutate(dir: string, change: (def: Record<string, any>) => void): void {
  const file = join(dir, 'cryoablation', 'service.yaml');
  const def = parse(readFileSync(file, 'utf8')) as Record<string, any>;
  change(def);
  writeFileSync(file, stringify(def));
}

function errorsOf(dir: string): string[] {
  const result = loadRegistry(dir);
  if (result.ok) throw new Error('expected the registry to be rejected');
  return result.errors;
}

describe('hook registry', () => {
  test('loads the shipped cryoablation service with its data queries', () => {
    const result = loadRegistry(HOOKS);
    if (!result.ok) throw new Error(result.errors.join('\n'));
    const service = result.registry.get('cryoablation-order-sign');
    expect(service?.definition.hook).toBe('order-sign');
    expect(service?.queries.filter((q) => q.needed === 'always').map((q) => q.key)).toEqual(['patient', 'coverage']);
    expect(service?.queries.map((q) => q.resourceType)).toEqual(
      expect.arrayContaining(['Condition', 'Observation', 'Procedure', 'QuestionnaireResponse']),
    );
  });

  const broken: { name: string; change: (def: Record<string, any>) => void; expected: RegExp }[] = [
    { name: 'missing id', change: (d) => delete d['id'], expected: /service\.yaml: id: / },
    {
      name: 'unsupported hook',
      change: (d) => (d['hook'] = 'patient-view'),
      expected: /service\.yaml: hook: only order-sign/,
    },
    {
      name: 'nested prefetch token',
      change: (d) =>
        (d['queries']['conditions']['template'] = 'ServiceRequest?_id={{context.draftOrders.ServiceRequest.id}}'),
      expected: /service\.yaml: queries\.conditions\.template: token \{\{context\.draftOrders\.ServiceRequest\.id\}\}/,
    },
    {
      name: 'query without description',
      change: (d) => delete d['queries']['procedures']['description'],
      expected: /service\.yaml: queries\.procedures\.description: /,
    },
    {
      name: 'duplicate configuration option',
      change: (d) => d['configurationOptions'].push({ ...d['configurationOptions'][0] }),
      expected: /service\.yaml: configurationOptions\[3\]\.code: duplicate code coverage-info/,
    },
    {
      name: 'option default of the wrong type',
      change: (d) => (d['configurationOptions'][0]['default'] = 'yes'),
      expected: /service\.yaml: configurationOptions\[0\]\.default: /,
    },
    { name: 'misspelt field', change: (d) => (d['querys'] = {}), expected: /service\.yaml: \(root\): .*querys/ },
    {
      name: 'scope system that is not a URL',
      change: (d) => (d['scope']['orderCodes'][0]['system'] = 'CPT'),
      expected: /service\.yaml: scope\.orderCodes\[0\]\.system: /,
    },
  ];

  test.each(broken)('rejects a definition with $name, naming the file and the field', ({ change, expected }) => {
    const dir = hooksCopy();
    mutate(dir, change);
    expect(errorsOf(dir).join('\n')).toMatch(expected);
  });

  test('rejects unparsable YAML with the file name', () => {
    const dir = hooksCopy();
    writeFileSync(join(dir, 'cryoablation', 'service.yaml'), 'id: [unclosed\nhook: order-sign\n');
    expect(errorsOf(dir).join('\n')).toMatch(/cryoablation\/service\.yaml: /);
  });

  test('rejects a hook folder without service.yaml', () => {
    const dir = hooksCopy();
    mkdirSync(join(dir, 'empty-policy'));
    expect(errorsOf(dir).join('\n')).toMatch(/empty-policy\/service\.yaml: .*ENOENT/);
  });

  test('rejects two folders that declare the same service id', () => {
    const dir = hooksCopy();
    cpSync(join(dir, 'cryoablation'), join(dir, 'second-copy'), { recursive: true });
    expect(errorsOf(dir).join('\n')).toMatch(
      /second-copy\/service\.yaml: id: "cryoablation-order-sign" is already used/,
    );
  });

  test('a second policy is a new folder: it is discovered without code changes', () => {
    const dir = hooksCopy();
    cpSync(join(dir, 'cryoablation'), join(dir, 'other-policy'), { recursive: true });
    const file = join(dir, 'other-policy', 'service.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('id: cryoablation-order-sign', 'id: other-policy-order-sign'),
    );
    const result = loadRegistry(dir);
    if (!result.ok) throw new Error(result.errors.join('\n'));
    expect(result.registry.services.map((s) => s.definition.id)).toEqual([
      'cryoablation-order-sign',
      'other-policy-order-sign',
    ]);
  });
});
