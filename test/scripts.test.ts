import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isolatedStore, testApp } from './support/app.js';
import { DEV_ISS, DEV_JWK } from './support/jwt.js';
import { fixture } from './support/fixtures.js';

/** The npm scripts as a user runs them: a failure is one line on stderr and a non-zero exit, never a stack trace. */

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SPAWN_TIMEOUT_MS = 20_000;
const TEST_TIMEOUT_MS = 30_000;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `node --import tsx scripts/<name>.ts ...args`, from the repository root. */
function script(name: string, args: readonly string[] = [], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', `scripts/${name}.ts`, ...args],
      { cwd: ROOT, env: { ...process.env, ...isolatedStore(), LOG_LEVEL: 'silent', ...env }, timeout: SPAWN_TIMEOUT_MS, encoding: 'utf8' },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

/** One line on stderr naming the script, matching `message`, with no stack trace. */
function expectOneLine(run: Run, code: number, message: RegExp): void {
  expect(run.code).toBe(code);
  const lines = run.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(message);
  expect(run.stderr).not.toMatch(/\n\s+at |Error:|node:internal/);
}

/** A loopback port with nothing listening: bound, then released. */
async function closedPort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((done) => s.close(() => done()));
  return port;
}

describe('npm run token', () => {
  const URL_CALLED = 'http://localhost:3000/cds-services/cryoablation-order-sign';

  test('prints only a development ES384 JWT for the URL: iss and kid of the development key, short exp, unique jti', async () => {
    const [a, b] = await Promise.all([script('token', [URL_CALLED]), script('token', [URL_CALLED])]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect([a.stderr, b.stderr]).toEqual(['', '']);
    expect(a.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const keys = createLocalJWKSet(fixture<JSONWebKeySet>('keys/dev-client.jwks.json'));
    const token = a.stdout.trim();
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES384', typ: 'JWT', kid: DEV_JWK.kid });
    const { payload } = await jwtVerify(token, keys, { issuer: DEV_ISS, audience: URL_CALLED, algorithms: ['ES384'] });
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(60);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    const other = await jwtVerify(b.stdout.trim(), keys, { audience: URL_CALLED });
    expect(other.payload.jti).not.toBe(payload.jti);
  }, TEST_TIMEOUT_MS);

  test('the token opens discovery on a service that checks tokens (as with curl)', async () => {
    const run = await script('token', ['http://localhost:3000/cds-services']);
    const { app } = testApp({ CDS_AUTH: 'on' }, () => new Date());
    const res = await request(app).get('/cds-services').set('Authorization', `Bearer ${run.stdout.trim()}`);
    expect(res.status).toBe(200);
  }, TEST_TIMEOUT_MS);

  test('without a URL: usage, exit 2', async () => {
    expectOneLine(await script('token'), 2, /^token: usage: npm run token -- <url>/);
  }, TEST_TIMEOUT_MS);

  test('with something that is not a URL: says so, exit 2', async () => {
    expectOneLine(await script('token', ['localhost:3000']), 2, /^token: url must be http or https: localhost:3000$/);
    expectOneLine(await script('token', ['not a url']), 2, /^token: url is not a URL: not a url$/);
  }, TEST_TIMEOUT_MS);
});

describe('npm run replay', () => {
  const FIXTURE = 'fixtures/requests/renal-cryoablation-prefetched.json';

  test('no server running: names the URL and the cause, exit 1', async () => {
    const port = await closedPort();
    expectOneLine(
      await script('replay', [FIXTURE, `http://127.0.0.1:${port}`]),
      1,
      new RegExp(`^replay: cannot reach http://127\\.0\\.0\\.1:${port}/cds-services/cryoablation-order-sign: connection refused \\(is the service running\\? npm start\\)$`),
    );
  }, TEST_TIMEOUT_MS);

  test('a missing file: names it, exit 1', async () => {
    expectOneLine(await script('replay', ['fixtures/requests/nope.json']), 1, /^replay: cannot read fixtures\/requests\/nope\.json: no such file$/);
  }, TEST_TIMEOUT_MS);

  test('a file that is not JSON, or not a request: says which, exit 1', async () => {
    expectOneLine(await script('replay', ['README.md']), 1, /^replay: README\.md is not JSON: /);
    expectOneLine(await script('replay', ['package.json']), 1, /^replay: package\.json is not an order-sign request or a scenario \(no hook\)$/);
  }, TEST_TIMEOUT_MS);

  test('bad arguments: no file, too many, a base that is not an http URL: usage or the reason, exit 2', async () => {
    expectOneLine(await script('replay'), 2, /^replay: usage: npm run replay -- <fixture\.json> \[base URL\]/);
    expectOneLine(await script('replay', [FIXTURE, 'http://localhost:3000', 'extra']), 2, /^replay: usage: /);
    expectOneLine(await script('replay', [FIXTURE, 'ftp://localhost']), 2, /^replay: base URL must be http or https: ftp:\/\/localhost$/);
  }, TEST_TIMEOUT_MS);

  describe('against a running service', () => {
    let server: Server;
    let base: string;

    beforeAll(async () => {
      let handler: ReturnType<typeof testApp>['app'] | undefined;
      server = createServer((req, res) => handler!(req, res)).listen(0, '127.0.0.1');
      await once(server, 'listening');
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      handler = testApp({ CDS_AUTH: 'on', CDS_PUBLIC_BASE_URL: base, LOG_LEVEL: 'silent' }, () => new Date()).app;
    });
    afterAll(() => new Promise<void>((done) => server.close(() => done())));

    test('a signed call: HTTP 200 and the answer, exit 0', async () => {
      const run = await script('replay', [FIXTURE, base]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^HTTP 200\n\{\n {2}"cards": \[/);
    }, TEST_TIMEOUT_MS);

    test('an answer other than 200 is printed and exits 1', async () => {
      const run = await script('replay', ['hooks/cryoablation/scenarios/V-renal/tumor-5cm-egfr-48-covered-by-v-b.json', `${base}/no-such-prefix`]);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/^HTTP 404\n/);
    }, TEST_TIMEOUT_MS);
  });
});

describe('npm run explain', () => {
  test('a missing file: names it, exit 1', async () => {
    expectOneLine(await script('explain', ['fixtures/scenarios/nope.json']), 1, /^explain: cannot read fixtures\/scenarios\/nope\.json: no such file$/);
  }, TEST_TIMEOUT_MS);

  test('no file: usage, exit 2', async () => {
    expectOneLine(await script('explain'), 2, /^explain: usage: npm run explain -- /);
  }, TEST_TIMEOUT_MS);

  test('a broken setting: one line naming the variable, exit 1', async () => {
    expectOneLine(await script('explain', ['fixtures/requests/renal-cryoablation-prefetched.json'], { PORT: 'abc' }), 1, /^explain: PORT: /);
  }, TEST_TIMEOUT_MS);

  test('a scenario: the tree, exit 0', async () => {
    const run = await script('explain', ['hooks/cryoablation/scenarios/V-renal/tumor-5cm-egfr-48-covered-by-v-b.json']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/COVERED \(met: V\)/);
  }, TEST_TIMEOUT_MS);
});

describe('npm run fuzz', () => {
  test('a setting that is not a number: one line naming it, exit 2', async () => {
    expectOneLine(await script('fuzz', [], { FUZZ_RUNS: 'lots' }), 2, /^fuzz: FUZZ_RUNS must be a whole number, got "lots"$/);
  }, TEST_TIMEOUT_MS);
});
