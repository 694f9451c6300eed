import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signerFrom } from '../scripts/replay/client.js';
import { daysBetween, shiftDate, shiftDates } from '../scripts/replay/dates.js';
import { answerTo, replay, type CaseResult } from '../scripts/replay/run.js';
import { SERVER_MAIN } from '../scripts/replay/service.js';
import { closedPort, expectOneLine, ROOT, script, type Run } from './support/scripts.js';

/** npm run replay: scenarios replayed over HTTP as an EHR would, compared with their expectations. */

const SCENARIOS = join(ROOT, 'hooks/cryoablation/scenarios');
const COVERED = join(SCENARIOS, 'V-renal/tumor-3cm-covered.json');
const INVESTIGATIVE = join(SCENARIOS, 'VI-VIII-bone-soft-tissue/knee-osteoarthritis-investigative.json');
/** Signed twice: documentation needed, then covered once the DTR client adds the completed questionnaire. */
const ATTESTED = join(SCENARIOS, 'IV-prostate/phoenix-failure-attested-life-expectancy-covered.json');

/** A replay starts the service and a FHIR server: generous limits, so a busy 2-core machine stays far from them. */
const TEST_TIMEOUT_MS = 90_000;
const SPAWN_TIMEOUT_MS = 75_000;
const replayScript = (args: readonly string[]): Promise<Run> => script('replay', args, {}, SPAWN_TIMEOUT_MS);

const closingLine = (stdout: string): string | undefined => stdout.trimEnd().split('\n').at(-1);

describe('dates move with the scenario', () => {
  test('date, dateTime and instant shift by whole days, keeping precision and zone', () => {
    expect(daysBetween('2026-11-23', '2026-12-01')).toBe(8);
    expect(shiftDate('2026-11-20', 8)).toBe('2026-11-28');
    expect(shiftDate('2026-11-20T10:00:00Z', 12)).toBe('2026-12-02T10:00:00Z');
    expect(shiftDate('2026-02-27T23:30:00.123+05:00', 2)).toBe('2026-03-01T23:30:00.123+05:00');
    expect(shiftDate('2024-02', 40)).toBe('2024-03');
    expect(shiftDate('1960-01-01', -1)).toBe('1959-12-31');
  });

  test('every date in the JSON moves; codes, ids and versions that look like dates do not', () => {
    const json = {
      authoredOn: '2026-11-20',
      period: { start: '2024-01-01', end: '2026-10-01' },
      component: [{ effectiveDateTime: '2026-10-23T08:00:00Z' }],
      code: { coding: [{ system: 'http://loinc.org', code: '2857-1' }] },
      version: '2026-11-01',
      id: '2026-11-20',
      note: 'seen 2026-11-20',
    };
    expect(shiftDates(json, 10)).toEqual({
      ...json,
      authoredOn: '2026-11-30',
      period: { start: '2024-01-11', end: '2026-10-11' },
      component: [{ effectiveDateTime: '2026-11-02T08:00:00Z' }],
    });
  });

  test('a DTR client answers the Questionnaire the service names, coded answers included', () => {
    const own = { url: 'http://localhost:3000/fhir/Questionnaire/q', version: '1.0.0' };
    const qr = {
      resourceType: 'QuestionnaireResponse',
      questionnaire: `${own.url}|1.0.0`,
      item: [{ linkId: 'V', answer: [{ valueCoding: { system: `${own.url}/indication`, code: 'V' } }] }],
    };
    const answered = answerTo(qr, own, 'https://crd.example.org/fhir/Questionnaire/q|1.0.0');
    expect(answered['questionnaire']).toBe('https://crd.example.org/fhir/Questionnaire/q|1.0.0');
    expect(JSON.stringify(answered)).toContain('"system":"https://crd.example.org/fhir/Questionnaire/q/indication"');
    const other = { ...qr, questionnaire: 'http://example.org/Questionnaire/other|1' };
    expect(answerTo(other, own, 'https://crd.example.org/fhir/Questionnaire/q|1.0.0')).toEqual(other);
  });
});

describe('replay in-process', () => {
  let results: CaseResult[];

  beforeAll(async () => {
    results = await replay({
      modes: ['prefetch', 'fhir'],
      files: [COVERED, ATTESTED],
      signer: await signerFrom(undefined, undefined),
    });
  }, TEST_TIMEOUT_MS);

  test('each scenario passes in both modes; the attested one is signed again after the questionnaire', () => {
    expect(results.map((r) => [r.scenario.name, r.mode, r.passed, r.summary])).toEqual([
      ['tumor-3cm-covered', 'prefetch', true, 'covered'],
      ['tumor-3cm-covered', 'fhir', true, 'covered'],
      [
        'phoenix-failure-attested-life-expectancy-covered',
        'prefetch',
        true,
        'documentation-needed → covered (questionnaire completed)',
      ],
      [
        'phoenix-failure-attested-life-expectancy-covered',
        'fhir',
        true,
        'documentation-needed → covered (questionnaire completed)',
      ],
    ]);
  });

  test('prefetch mode: the service queries nothing (only the replay runs the templates, without a token)', () => {
    const prefetch = results.find((r) => r.scenario.name === 'tumor-3cm-covered' && r.mode === 'prefetch')!;
    expect(prefetch.fhirRequests.length).toBeGreaterThan(0);
    expect(prefetch.fhirRequests.filter((r) => r.bearer)).toEqual([]);
  });

  test('fhir mode: the service searches the loopback FHIR server with the bearer token, for each data query', () => {
    const fhir = results.find((r) => r.scenario.name === 'tumor-3cm-covered' && r.mode === 'fhir')!;
    expect(fhir.fhirRequests.every((r) => r.bearer && r.method === 'GET')).toBe(true);
    const searched = fhir.fhirRequests.map((r) => decodeURIComponent(r.path));
    expect(searched).toEqual(
      expect.arrayContaining([
        'Patient/pat-renal',
        'Coverage?patient=pat-renal&status=active',
        'Condition?patient=pat-renal',
        expect.stringMatching(/^Observation\?patient=pat-renal&code=http:\/\/loinc\.org\|2857-1,/),
        'Procedure?patient=pat-renal',
        'QuestionnaireResponse?patient=pat-renal&status=completed,amended',
      ]),
    );
  });

  test('fhir mode with a questionnaire: the second signing reads the saved QuestionnaireResponse', () => {
    const attested = results.find((r) => r.scenario.name.startsWith('phoenix') && r.mode === 'fhir')!;
    const qrSearches = attested.fhirRequests.filter((r) => r.bearer && r.path.startsWith('QuestionnaireResponse?'));
    expect(qrSearches).toHaveLength(2);
  });
});

describe('npm run replay', () => {
  let tmp: string;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'replay-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  /** A temporary copy of a scenario with its first order's expected outcome replaced. */
  function tampered(file: string, outcome: string): string {
    const fixture = JSON.parse(readFileSync(file, 'utf8')) as {
      expected: Record<string, { outcome: string; nodes?: unknown }>;
    };
    const [ref] = Object.keys(fixture.expected);
    fixture.expected[ref!] = { outcome };
    const dir = join(tmp, 'cryoablation/scenarios/V-renal');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'tampered.json');
    writeFileSync(path, JSON.stringify(fixture));
    return path;
  }

  test(
    'a wrong expectation: FAIL with expected and actual decision, the closing count, exit 1; JUnit XML with a testcase per scenario and mode',
    async () => {
      const junit = join(tmp, 'out/replay.xml');
      const run = await replayScript([
        '--mode',
        'both',
        '--junit',
        junit,
        COVERED,
        tampered(COVERED, 'not-medically-necessary'),
      ]);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(
        /^FAIL {2}cryoablation\/V-renal\/tampered \[prefetch\] {2}covered {2}\d+ ms\n {6}ServiceRequest\/sr-1:\n {8}expected: not-medically-necessary\n {8}actual: {3}covered\n/m,
      );
      expect(run.stdout).toMatch(/^pass {2}cryoablation\/V-renal\/tumor-3cm-covered \[fhir\] {2}covered {2}\d+ ms$/m);
      expect(closingLine(run.stdout)).toBe('2 passed, 2 failed');

      const xml = readFileSync(junit, 'utf8');
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- fast-xml-parser 5 still ships its validator; a well-formedness check needs no other package
      expect(XMLValidator.validate(xml)).toBe(true);
      const doc = new XMLParser({
        ignoreAttributes: false,
        attributeNamePrefix: '',
        isArray: (name) => ['testsuite', 'testcase'].includes(name),
      }).parse(xml) as {
        testsuites: {
          tests: string;
          failures: string;
          testsuite: {
            name: string;
            testcase: { classname: string; name: string; failure?: { message: string; '#text': string } }[];
          }[];
        };
      };
      expect(doc.testsuites).toMatchObject({ tests: '4', failures: '2' });
      const cases = doc.testsuites.testsuite.flatMap((s) => s.testcase);
      expect(cases.map((c) => [c.classname, c.name, c.failure !== undefined])).toEqual([
        ['cryoablation/V-renal', 'tumor-3cm-covered [prefetch]', false],
        ['cryoablation/V-renal', 'tumor-3cm-covered [fhir]', false],
        ['cryoablation/V-renal', 'tampered [prefetch]', true],
        ['cryoablation/V-renal', 'tampered [fhir]', true],
      ]);
      expect(cases[2]!.failure!['#text']).toContain('expected: not-medically-necessary');
    },
    TEST_TIMEOUT_MS,
  );

  test(
    '--show: the cards as an EHR shows them, and the coverage information',
    async () => {
      const run = await replayScript(['--show', 'knee-osteoarthritis-investigative']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/┌─ 1\. \[WARNING\] .*investigative/i);
      expect(run.stdout).toMatch(/Links:\n {2}│ {3}Cryoablation policy, exclusion/);
      expect(run.stdout).toMatch(/Suggestions \(at-most-one\):\n {2}│ {3}\[\*\] .* — delete ServiceRequest\/sr-1/);
      expect(run.stdout).toMatch(/Override reasons:\n {2}│ {3}\( \) Member is enrolled in a clinical trial/);
      expect(run.stdout).toMatch(
        /Coverage information:\n {2}ServiceRequest\/sr-1 · Coverage\/cov-1 · billing code \d+ · \d{4}-\d{2}-\d{2}\n {4}covered=not-covered/,
      );
      expect(closingLine(run.stdout)).toBe('1 passed, 0 failed');
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'a service that is down: one line naming the URL and the cause, exit 1',
    async () => {
      const port = await closedPort();
      expectOneLine(
        await replayScript(['--url', `http://127.0.0.1:${port}`, COVERED]),
        1,
        new RegExp(
          `^replay: cannot reach http://127\\.0\\.0\\.1:${port}/cds-services: connection refused \\(is the service running\\? npm start\\)$`,
        ),
      );
    },
    TEST_TIMEOUT_MS,
  );

  test(
    '--key: a key the service does not trust is refused at discovery, in one line, exit 1',
    async () => {
      const { privateKey } = await generateKeyPair('ES384', { extractable: true });
      const key = join(tmp, 'untrusted.private.jwk.json');
      writeFileSync(key, JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'untrusted-1', alg: 'ES384' }));
      expectOneLine(
        await replayScript(['--key', key, COVERED]),
        1,
        /^replay: discovery http:\/\/127\.0\.0\.1:\d+\/cds-services answered HTTP 401 \(is the signing key trusted by the service\? --key, --iss\)$/,
      );
    },
    TEST_TIMEOUT_MS,
  );

  test.each([
    [['--mode', 'sometimes'], 2, /^replay: --mode must be prefetch, fhir or both, got sometimes$/],
    [['--url', 'ftp://localhost'], 2, /^replay: --url must be http or https: ftp:\/\/localhost$/],
    [['--what'], 2, /^replay: Unknown option '--what'/],
    [['hooks/nope.json'], 1, /^replay: cannot read hooks\/nope\.json: no such file or folder$/],
    [['package.json'], 1, /^replay: package\.json is not a scenario fixture/],
    [['--show', 'no-such-scenario'], 1, /^replay: no scenario named no-such-scenario$/],
  ] as const)(
    '%j: one line, exit %i',
    async (args, code, message) => {
      expectOneLine(await replayScript(args), code, message);
    },
    TEST_TIMEOUT_MS,
  );
});

/** As `npm start` runs it: discovery asks to prefetch only Patient and Coverage (CDS_PREFETCH=minimal). */
describe('npm run replay --url: a separately started service', () => {
  let child: ChildProcess;
  let base: string;

  beforeAll(async () => {
    const port = await closedPort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['--import', 'tsx', SERVER_MAIN], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: String(port),
        CDS_PUBLIC_BASE_URL: base,
        CDS_PREFETCH: 'minimal',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    const started = new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', () => out.includes('listening on') && resolve());
      child.once('exit', (code) => reject(new Error(`service exited with ${code}: ${out}`)));
    });
    await started;
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  test(
    'both modes pass against it (prefetch mode offering the FHIR server for the rest), questionnaire included',
    async () => {
      const run = await replayScript(['--url', base, '--mode', 'both', COVERED, ATTESTED, INVESTIGATIVE]);
      expect(run.stderr).toBe('');
      expect(closingLine(run.stdout)).toBe('6 passed, 0 failed');
      expect(run.code).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );
});
