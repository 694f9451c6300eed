/**
 * Scenario fixtures as the replay reads them: found in files or folders, named policy/file/name, and split into
 * the data an EHR would hold (the patient's resources) and the answers a DTR client would add (completed
 * QuestionnaireResponses).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, isRecord, readJsonFile } from '../cli.js';
import { loadShorthands, SCENARIOS_FOLDER, type ExpectedDecision } from '../scenario-builder.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const HOOKS_DIR = join(ROOT, 'hooks');

export type Resource = { resourceType: string; id?: string } & Record<string, unknown>;

export interface ReplayScenario {
  /** The policy folder's name, e.g. cryoablation. */
  readonly policy: string;
  /** The source file the scenario comes from, e.g. V-renal. */
  readonly file: string;
  readonly name: string;
  readonly path: string;
  readonly service: string;
  readonly evaluationDate: string;
  readonly description: string;
  readonly expected: Readonly<Record<string, ExpectedDecision>>;
  readonly request: Record<string, unknown>;
  /** The policy's own Questionnaire canonical (url|version) as the scenario sources write it, if declared. */
  readonly questionnaire?: { readonly url: string; readonly version: string };
}

/** What the EHR holds for the scenario: its record, and the questionnaire answers completed in DTR. */
export interface ScenarioData {
  readonly patientId: string;
  readonly resources: readonly Resource[];
  readonly responses: readonly Resource[];
  /** Prefetch keys the scenario leaves out on purpose (data the EHR could not supply). */
  readonly prefetchKeys: readonly string[];
}

const isResource = (v: unknown): v is Resource => isRecord(v) && typeof v['resourceType'] === 'string';

function jsonFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((d) => {
      const path = join(dir, d.name);
      if (d.isDirectory()) return d.name === 'node_modules' ? [] : jsonFilesUnder(path);
      return d.name.endsWith('.json') ? [path] : [];
    });
}

/** Every built scenario under the policy folders of hooks/ (hooks/<policy>/scenarios/<file>/<name>.json). */
export function defaultScenarioFiles(hooksDir: string = HOOKS_DIR): string[] {
  if (!existsSync(hooksDir)) return [];
  return readdirSync(hooksDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(hooksDir, d.name, SCENARIOS_FOLDER)))
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((d) => jsonFilesUnder(join(hooksDir, d.name, SCENARIOS_FOLDER)));
}

function looksLikeScenario(json: unknown): json is Record<string, unknown> {
  return (
    isRecord(json) &&
    isRecord(json['expected']) &&
    isRecord(json['request']) &&
    typeof json['evaluationDate'] === 'string'
  );
}

/** The scenario files named on the command line: files as given, folders searched for scenario fixtures. */
export function scenarioFilesOf(args: readonly string[]): string[] {
  if (args.length === 0) return defaultScenarioFiles();
  return args.flatMap((arg) => {
    if (!existsSync(arg)) throw new CliError(`cannot read ${arg}: no such file or folder`);
    if (!statSync(arg).isDirectory()) return [arg];
    const files = jsonFilesUnder(arg).filter((f) => looksLikeScenario(readJsonFile(f)));
    if (files.length === 0)
      throw new CliError(`${arg} holds no scenario fixtures (hooks/<policy>/scenarios/<file>/<name>.json)`);
    return files;
  });
}

/** Where a fixture sits: hooks/<policy>/scenarios/<file>/<name>.json, or just its folder and name elsewhere. */
function placeOf(path: string): { policy: string; file: string; name: string; policyFolder?: string } {
  const abs = resolve(path);
  const fileDir = dirname(abs);
  const scenariosDir = dirname(fileDir);
  const name = basename(abs).replace(/\.json$/, '');
  if (basename(scenariosDir) === SCENARIOS_FOLDER) {
    const policyFolder = dirname(scenariosDir);
    return { policy: basename(policyFolder), file: basename(fileDir), name, policyFolder };
  }
  return { policy: basename(scenariosDir) || 'scenarios', file: basename(fileDir), name };
}

function questionnaireOf(policyFolder: string | undefined): ReplayScenario['questionnaire'] {
  if (!policyFolder) return undefined;
  try {
    return loadShorthands(policyFolder).questionnaire;
  } catch {
    return undefined;
  }
}

export function loadScenario(path: string): ReplayScenario {
  const json = readJsonFile(path);
  if (!looksLikeScenario(json))
    throw new CliError(
      `${relative(process.cwd(), path) || path} is not a scenario fixture (needs expected, request and evaluationDate)`,
    );
  const place = placeOf(path);
  const questionnaire = questionnaireOf(place.policyFolder);
  return {
    policy: place.policy,
    file: place.file,
    name: place.name,
    path,
    service: typeof json['service'] === 'string' ? json['service'] : '',
    evaluationDate: String(json['evaluationDate']),
    description: typeof json['description'] === 'string' ? json['description'] : '',
    expected: json['expected'] as Record<string, ExpectedDecision>,
    request: json['request'] as Record<string, unknown>,
    ...(questionnaire ? { questionnaire } : {}),
  };
}

/** The scenario named by `--show`: a fixture path, or a name (`name` or `file/name`) among the given files. */
export function findScenario(nameOrPath: string, files: readonly string[]): string {
  if (existsSync(nameOrPath) && statSync(nameOrPath).isFile()) return nameOrPath;
  const wanted = nameOrPath.replace(/\.json$/, '');
  const hits = files.filter((f) => {
    const p = placeOf(f);
    return [p.name, `${p.file}/${p.name}`, `${p.policy}/${p.file}/${p.name}`].includes(wanted);
  });
  if (hits.length === 0) throw new CliError(`no scenario named ${nameOrPath}`);
  if (hits.length > 1) throw new CliError(`${nameOrPath} names ${hits.length} scenarios; give file/name or the path`);
  return hits[0]!;
}

/** The resources a prefetch value carries: a resource itself, or a Bundle's entries. */
function resourcesOf(value: unknown): Resource[] {
  if (!isResource(value)) return [];
  if (value.resourceType !== 'Bundle') return [value];
  const entries = Array.isArray(value['entry']) ? (value['entry'] as unknown[]) : [];
  return entries.flatMap((e) => (isRecord(e) && isResource(e['resource']) ? [e['resource']] : []));
}

/** The EHR's record for a scenario: every resource its prefetch carries, once each; QuestionnaireResponses apart. */
export function scenarioData(s: ReplayScenario): ScenarioData {
  const context = isRecord(s.request['context']) ? s.request['context'] : {};
  const prefetch = isRecord(s.request['prefetch']) ? s.request['prefetch'] : {};
  const byKey = new Map<string, Resource>();
  for (const r of Object.values(prefetch).flatMap(resourcesOf)) byKey.set(`${r.resourceType}/${String(r.id)}`, r);
  const all = [...byKey.values()];
  return {
    patientId: typeof context['patientId'] === 'string' ? context['patientId'] : '',
    resources: all.filter((r) => r.resourceType !== 'QuestionnaireResponse'),
    responses: all.filter((r) => r.resourceType === 'QuestionnaireResponse'),
    prefetchKeys: Object.keys(prefetch),
  };
}

/** JUnit classname and label of a scenario: policy/file, and policy/file/name. */
export const classNameOf = (s: ReplayScenario): string => `${s.policy}/${s.file}`;
export const labelOf = (s: ReplayScenario): string => `${s.policy}/${s.file}/${s.name}`;
