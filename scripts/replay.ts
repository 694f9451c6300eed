/**
 * npm run replay -- [--url <base>] [--mode prefetch|fhir|both] [--junit <file>] [--key <jwk>] [--iss <issuer>]
 *                   [--show <scenario>] [files or folders]
 * Replays scenario fixtures (default: every scenario of every policy folder under hooks/) against the service
 * (started in-process on loopback, or the deployment at --url) as an EHR would, dates shifted so that each
 * scenario's evaluation date is today; compares every answer with the expected outcome and runs the CRD
 * conformance checks. Ends with `N passed, N failed`; exits 1 on any failure, 2 on bad arguments.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { CliError, parseHttpUrl, run, usage } from './cli.js';
import { signerFrom } from './replay/client.js';
import { junitXml } from './replay/junit.js';
import type { CaseResult, Mode } from './replay/run.js';
import { defaultScenarioFiles, findScenario, labelOf, scenarioFilesOf } from './replay/scenarios.js';
import { renderAnswer } from './replay/show.js';

const USAGE =
  'npm run replay -- [--url <base>] [--mode prefetch|fhir|both] [--junit <file>] [--key <jwk>] [--iss <issuer>] [--show <scenario>] [files or folders]';

interface Args {
  readonly url?: string;
  readonly modes: readonly Mode[];
  readonly junit?: string;
  readonly key?: string;
  readonly iss?: string;
  readonly show?: string;
  readonly paths: readonly string[];
}

const MODES: readonly Mode[] = ['prefetch', 'fhir'];

function modesOf(text: string | undefined): readonly Mode[] {
  if (text === undefined) return ['prefetch'];
  if (text === 'both') return MODES;
  if ((MODES as readonly string[]).includes(text)) return [text as Mode];
  throw new CliError(`--mode must be prefetch, fhir or both, got ${text}`, 2);
}

function argsOf(argv: readonly string[]): Args {
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        mode: { type: 'string' },
        junit: { type: 'string' },
        key: { type: 'string' },
        iss: { type: 'string' },
        show: { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  }
  try {
    parsed = parse();
  } catch (e) {
    throw new CliError(`${(e as Error).message.split('\n')[0]}; usage: ${USAGE}`, 2);
  }
  const v = parsed.values;
  if (v.help) throw usage(USAGE);
  if (v.url !== undefined) parseHttpUrl(v.url, '--url');
  return {
    ...(v.url !== undefined ? { url: v.url } : {}),
    modes: modesOf(v.mode),
    ...(v.junit !== undefined ? { junit: v.junit } : {}),
    ...(v.key !== undefined ? { key: v.key } : {}),
    ...(v.iss !== undefined ? { iss: v.iss } : {}),
    ...(v.show !== undefined ? { show: v.show } : {}),
    paths: parsed.positionals,
  };
}

function progressLine(r: CaseResult): string {
  return `${r.passed ? 'pass' : 'FAIL'}  ${labelOf(r.scenario)} [${r.mode}]  ${r.summary}  ${r.ms} ms`;
}

function failureText(r: CaseResult): string {
  return r.problems.map((p) => `      ${p}`).join('\n');
}

function writeJunit(file: string, results: readonly CaseResult[]): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, junitXml(results));
  } catch (e) {
    throw new CliError(`cannot write ${file}: ${(e as Error).message}`);
  }
}

await run('replay', async () => {
  const args = argsOf(process.argv.slice(2));
  const files =
    args.show !== undefined
      ? [findScenario(args.show, args.paths.length > 0 ? scenarioFilesOf(args.paths) : defaultScenarioFiles())]
      : scenarioFilesOf(args.paths);
  if (files.length === 0) throw new CliError('no scenarios to replay');
  const signer = await signerFrom(args.key, args.iss);
  const out = process.stdout;
  // The service and the FHIR server load only once the arguments are known to be good.
  const { replay } = await import('./replay/run.js');
  const results = await replay({
    ...(args.url !== undefined ? { url: args.url } : {}),
    modes: args.show !== undefined ? args.modes.slice(0, 1) : args.modes,
    files,
    signer,
    onCase: (r) => {
      if (args.show !== undefined && r.answer)
        out.write(`${r.scenario.description}\n\n${renderAnswer(r.scenario.request, r.answer.body)}\n`);
      out.write(`${progressLine(r)}\n`);
      if (!r.passed) out.write(`${failureText(r)}\n`);
    },
  });
  if (args.junit !== undefined) writeJunit(args.junit, results);
  const failed = results.filter((r) => !r.passed).length;
  out.write(`${results.length - failed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
});
