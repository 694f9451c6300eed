import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cardTextsSchema, type CardTexts } from '../crd/card-texts.js';
import { loadPolicy, type Policy } from '../rules/policy.js';
import { readYamlFile } from '../rules/yaml-file.js';
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

function loadService(
  hooksDir: string,
  folder: string,
): { ok: true; service: HookService } | { ok: false; errors: string[] } {
  const dir = join(hooksDir, folder);
  const file = join(dir, SERVICE_FILE);
  const display = relative(process.cwd(), file) || file;
  const parsed = readYamlFile(file, display, serviceDefinitionSchema);
  if (!parsed.ok && parsed.unreadable) return parsed;
  const policy = loadPolicy(dir);
  const cards = readYamlFile(join(dir, CARDS_FILE), display.replace(SERVICE_FILE, CARDS_FILE), cardTextsSchema);
  const errors = [
    ...(parsed.ok ? [] : parsed.errors),
    ...(policy.ok ? [] : policy.errors),
    ...(cards.ok ? [] : cards.errors),
  ];
  if (!parsed.ok || !policy.ok || !cards.ok) return { ok: false, errors };
  const sectionIds = new Set(policy.policy.sections.map((s) => s.node.id));
  parsed.value.scope.orderCodes.forEach((set, i) => {
    for (const [code, sections] of Object.entries(set.codes)) {
      for (const section of sections) {
        if (!sectionIds.has(section))
          errors.push(`${display}: scope.orderCodes.${i}.codes.${code}: unknown policy section ${section}`);
      }
    }
  });
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    service: {
      definition: parsed.value,
      queries: dataQueries(parsed.value),
      policy: policy.policy,
      cardTexts: cards.value,
      folder: dir,
    },
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
      errors.push(
        `${join(folder, SERVICE_FILE)}: id: "${result.service.definition.id}" is already used by ${clash.folder}`,
      );
      continue;
    }
    services.push(result.service);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, registry: registryOf(services) };
}
