import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import request from 'supertest';
import { describe, expect, test } from 'vitest';
import { testApp } from './support/app.js';
import { DEV_ISS, DEV_JWK } from './support/jwt.js';
import { fixture } from './support/fixtures.js';
import { expectOneLine, script, TEST_TIMEOUT_MS } from './support/scripts.js';

/** The npm scripts as a user runs them: a failure is one line on stderr and a non-zero exit, never a stack trace. */

describe('npm run token', () => {
  const URL_CALLED = 'http://localhost:3000/cds-services/cryoablation-order-sign';

  test(
    'prints only a development ES384 JWT for the URL: iss and kid of the development key, short exp, unique jti',
    async () => {
      const [a, b] = await Promise.all([script('token', [URL_CALLED]), script('token', [URL_CALLED])]);
      expect([a.code, b.code]).toEqual([0, 0]);
      expect([a.stderr, b.stderr]).toEqual(['', '']);
      expect(a.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
      const keys = createLocalJWKSet(fixture<JSONWebKeySet>('keys/dev-client.jwks.json'));
      const token = a.stdout.trim();
      expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES384', typ: 'JWT', kid: DEV_JWK.kid });
      const { payload } = await jwtVerify(token, keys, {
        issuer: DEV_ISS,
        audience: URL_CALLED,
        algorithms: ['ES384'],
      });
      expect(payload.exp! - payload.iat!).toBe(300);
      expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(60);
      expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
      const other = await jwtVerify(b.stdout.trim(), keys, { audience: URL_CALLED });
      expect(other.payload.jti).not.toBe(payload.jti);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'the token opens discovery on a service that checks tokens (as with curl)',
    async () => {
      const run = await script('token', ['http://localhost:3000/cds-services']);
      const { app } = testApp({ CDS_AUTH: 'on' }, () => new Date());
      const res = await request(app).get('/cds-services').set('Authorization', `Bearer ${run.stdout.trim()}`);
      expect(res.status).toBe(200);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'without a URL: usage, exit 2',
    async () => {
      expectOneLine(await script('token'), 2, /^token: usage: npm run token -- <url>/);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'with something that is not a URL: says so, exit 2',
    async () => {
      expectOneLine(await script('token', ['localhost:3000']), 2, /^token: url must be http or https: localhost:3000$/);
      expectOneLine(await script('token', ['not a url']), 2, /^token: url is not a URL: not a url$/);
    },
    TEST_TIMEOUT_MS,
  );
});

// npm run replay: test/replay.test.ts

describe('npm run explain', () => {
  test(
    'a missing file: names it, exit 1',
    async () => {
      expectOneLine(
        await script('explain', ['fixtures/scenarios/nope.json']),
        1,
        /^explain: cannot read fixtures\/scenarios\/nope\.json: no such file$/,
      );
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'no file: usage, exit 2',
    async () => {
      expectOneLine(await script('explain'), 2, /^explain: usage: npm run explain -- /);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'a broken setting: one line naming the variable, exit 1',
    async () => {
      expectOneLine(
        await script('explain', ['fixtures/requests/renal-cryoablation-prefetched.json'], { PORT: 'abc' }),
        1,
        /^explain: PORT: /,
      );
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'a scenario: the tree, exit 0',
    async () => {
      const run = await script('explain', [
        'hooks/cryoablation/scenarios/V-renal/tumor-5cm-egfr-48-covered-by-v-b.json',
      ]);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/COVERED \(met: V\)/);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('npm run fuzz', () => {
  test(
    'a setting that is not a number: one line naming it, exit 2',
    async () => {
      expectOneLine(
        await script('fuzz', [], { FUZZ_RUNS: 'lots' }),
        2,
        /^fuzz: FUZZ_RUNS must be a whole number, got "lots"$/,
      );
    },
    TEST_TIMEOUT_MS,
  );
});
