import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { cardTextsSchema, type CardTexts } from '../crd/card-texts.js';
import { loadPolicy, type Policy } from '../rules/policy.js';
import { dataQueries, serviceDefinitionSchema, type DataQuery, type ServiceDefinition } from './service-definition.js';

/** A CDS service loaded from its folder under hooks/: its discovery entry, data queries and policy. */
export interface HookService {
  readonly definition: ServiceDefinition;
  readonly queries: readonly DataQuery[];
  readonly policy: Policy;
  readonly cardTexts: CardTexts;
  readonly folder: string;
}

export interface Registry {
  readonly services: readonly HookService[];
  get(id: string): HookService | undefined;
}

export type RegistryResult = { ok: true; registry: Registry } | { ok: false; errors: string[] };

export const SERVICE_FILE = 'service.yaml';
export const CARDS_FILE = 'cards.yaml';

function issuePath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.');
}

export function formatIssues(file: string, error: z.ZodError): string[] {
  return error.issues.map((i) => `${file}: ${issuePath(i.path)}: ${i.message}`);
}

function readYaml(path: string, display: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: parseYaml(readFileSync(path, 'utf8')) };
  } catch (e) {
    if (e instanceof YAMLParseError) return { ok: false, error: `${display}: ${e.message.split('\n')[0]}` };
    return { ok: false, error: `${display}: ${(e as Error).message}` };
  }
}

function loadService(hooksDir: string, folder: string): { ok: true; service: HookService } | { ok: false; errors: string[] } {
  const dir = join(hooksDir, folder);
  const file = join(dir, SERVICE_FILE);
  const display = relative(process.cwd(), file) || file;
  const raw = readYaml(file, display);
  if (!raw.ok) return { ok: false, errors: [raw.error] };
  const parsed = serviceDefinitionSchema.safeParse(raw.value);
  const policy = loadPolicy(dir);
  const cardsDisplay = display.replace(SERVICE_FILE, CARDS_FILE);
  const cardsRaw = readYaml(join(dir, CARDS_FILE), cardsDisplay);
  const cards = cardsRaw.ok ? cardTextsSchema.safeParse(cardsRaw.value) : undefined;
  const errors = [
    ...(parsed.success ? [] : formatIssues(display, parsed.error)),
    ...(policy.ok ? [] : policy.errors),
    ...(!cardsRaw.ok ? [cardsRaw.error] : cards && !cards.success ? formatIssues(cardsDisplay, cards.error) : []),
  ];
  if (!parsed.success || !policy.ok || !cards?.success) return { ok: false, errors };
  const sectionIds = new Set(policy.policy.sections.map((s) => s.node.id));
  parsed.data.scope.orderCodes.forEach((set, i) => {
    for (const [code, sections] of Object.entries(set.codes)) {
      for (const section of sections) {
        if (!sectionIds.has(section)) errors.push(`${display}: scope.orderCodes.${i}.codes.${code}: unknown policy section ${section}`);
      }
    }
  });
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    service: { definition: parsed.data, queries: dataQueries(parsed.data), policy: policy.policy, cardTexts: cards.data, folder: dir },
  };
}

function subfolders(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => !name.startsWith('.') && statSync(join(dir, name)).isDirectory())
    .sort();
}

export function registryOf(services: readonly HookService[]): Registry {
  const byId = new Map(services.map((s) => [s.definition.id, s]));
  return { services, get: (id) => byId.get(id) };
}

/** Loads every hooks/<name>/service.yaml; any broken definition is reported with its file and field. */
export function loadRegistry(hooksDir: string): RegistryResult {
  let folders: string[];
  try {
    folders = subfolders(hooksDir);
  } catch (e) {
    return { ok: false, errors: [`${hooksDir}: cannot read the hooks folder (${(e as Error).message})`] };
  }
  const errors: string[] = [];
  const services: HookService[] = [];
  for (const folder of folders) {
    const result = loadService(hooksDir, folder);
    if (!result.ok) {
      errors.push(...result.errors);
      continue;
    }
    const clash = services.find((s) => s.definition.id === result.service.definition.id);
    if (clash) {
      errors.push(`${join(folder, SERVICE_FILE)}: id: "${result.service.definition.id}" is already used by ${clash.folder}`);
      continue;
    }
    services.push(result.service);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, registry: registryOf(services) };
}
