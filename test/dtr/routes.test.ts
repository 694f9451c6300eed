import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type Response } from 'express';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import request from 'supertest';
import { beforeAll, describe, expect, test } from 'vitest';
import { CLIENT_ASSERTION_TYPE, ephemeralSigningKey, tokenService } from '../../src/auth/backend-services.js';
import { trustedClients } from '../../src/auth/trusted-clients.js';
import { capabilityStatement } from '../../src/dtr/capability-statement.js';
import { dtrRouter, type FailureWithHeaders, type PackageEvent } from '../../src/dtr/routes.js';
import type { EvaluationQuery, StoredEvaluation } from '../../src/dtr/questionnaire-package.js';
import { checkOutputParameters } from '../support/dtr-profiles.js';
import { inputParameters, Q_URL, Q_VERSION, questionnaire, stored } from './fixtures.js';

const BASE = 'http://127.0.0.1';
const TOKEN_URL = `${BASE}/auth/token`;
const CLIENT = 'https://dtr-client.example';
const PACKAGE = '/fhir/Questionnaire/$questionnaire-package';

let app: express.Express;
let key: CryptoKey;
const events: PackageEvent[] = [];
const queries: EvaluationQuery[] = [];

beforeAll(async () => {
  const pair = await generateKeyPair('RS384', { extractable: true });
  key = pair.privateKey;
  const dir = mkdtempSync(join(tmpdir(), 'dtr-clients-'));
  const file = join(dir, 'clients.json');
  writeFileSync(
    file,
    JSON.stringify({
      clients: [{ iss: CLIENT, jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'rs1', alg: 'RS384' }] } }],
    }),
  );
  const loaded = trustedClients(file);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const tokens = tokenService({
    clients: loaded.clients,
    tokenEndpoint: TOKEN_URL,
    fhirBase: `${BASE}/fhir`,
    signingKey: await ephemeralSigningKey(),
  });
  const records: StoredEvaluation[] = [stored];
  app = express();
  app.use(
    dtrRouter({
      tokens,
      tokenEndpoint: TOKEN_URL,
      capabilityStatement: capabilityStatement({
        fhirBase: `${BASE}/fhir`,
        tokenEndpoint: TOKEN_URL,
        software: { name: 'test', version: '0' },
        date: '2026-12-01',
      }),
      questionnaires: {
        find: (url, version) => (url === Q_URL && (!version || version === Q_VERSION) ? questionnaire : undefined),
      },
      findEvaluation: async (q) => {
        queries.push(q);
        if ('assertionId' in q && q.assertionId === 'store-down') throw new Error('store unavailable');
        return 'assertionId' in q
          ? records.find((r) => r.id === q.assertionId)
          : records.find((r) => r.orderRef === q.orderRef && r.coverageRef === q.coverageRef);
      },
      sendFailure: (res: Response, f: FailureWithHeaders) => {
        res.status(f.status);
        if (f.headers) res.set(f.headers);
        res.type('application/fhir+json').send(JSON.stringify(f.outcome));
      },
      indicationLinkId: 'indication',
      onPackage: (e) => events.push(e),
      now: () => new Date('2026-12-01T15:00:00Z'),
    }),
  );
  app.all('/fhir/Questionnaire/:id', (_req, res) => res.status(405).end());
  app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) =>
    res.status(503).json({ handled: err.message }),
  );
});

async function accessToken(scope = 'system/Questionnaire.rs'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS384', kid: 'rs1', typ: 'JWT' })
    .setIssuer(CLIENT)
    .setSubject(CLIENT)
    .setAudience(TOKEN_URL)
    .setExpirationTime(now + 120)
    .setJti(crypto.randomUUID())
    .sign(key);
  const res = await request(app).post('/auth/token').type('form').send({
    grant_type: 'client_credentials',
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: assertion,
    scope,
  });
  expect(res.status).toBe(200);
  expect(res.headers['cache-control']).toBe('no-store');
  return res.body.access_token as string;
}

const postPackage = (body: unknown, token?: string) => {
  const r = request(app).post(PACKAGE).set('Content-Type', 'application/fhir+json');
  if (token) r.set('Authorization', `Bearer ${token}`);
  return r.send(typeof body === 'string' ? body : JSON.stringify(body));
};

describe('the DTR router on a bare app', () => {
  test('discovery documents', async () => {
    const meta = await request(app).get('/fhir/metadata');
    expect(meta.status).toBe(200);
    expect(meta.headers['content-type']).toMatch(/application\/fhir\+json/);
    expect(JSON.parse(meta.text)).toMatchObject({
      resourceType: 'CapabilityStatement',
      fhirVersion: '4.0.1',
      rest: [{ resource: [{ type: 'Questionnaire', operation: [{ name: 'questionnaire-package' }] }] }],
    });
    const smart = await request(app).get('/.well-known/smart-configuration');
    expect(smart.body).toMatchObject({ token_endpoint: TOKEN_URL, grant_types_supported: ['client_credentials'] });
  });

  test('the package without a token: 401 with an RFC 6750 challenge and an OperationOutcome', async () => {
    const res = await postPackage(inputParameters({ context: 'assert-1' }));
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="dtr"');
    expect(JSON.parse(res.text).issue[0].diagnostics).toMatch(/token endpoint/);
    const bad = await postPackage(inputParameters({ context: 'assert-1' }), 'not-a-token');
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toMatch(/error="invalid_token"/);
  });

  test('a token request with a bad assertion: 401 invalid_client as JSON', async () => {
    const res = await request(app).post('/auth/token').type('form').send({
      grant_type: 'client_credentials',
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: 'x',
      scope: 'system/Patient.rs',
    });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  test('by context with a Backend Services token: the pre-filled package', async () => {
    const token = await accessToken();
    const res = await postPackage(inputParameters({ context: 'assert-1', order: true }), token);
    expect(res.status).toBe(200);
    const output = JSON.parse(res.text);
    expect(checkOutputParameters(output)).toEqual([]);
    expect(events.at(-1)).toEqual({ clientId: CLIENT, status: 200, assertionId: 'assert-1' });
    expect(JSON.stringify(events)).not.toContain(token);
  });

  test("by the order's reference", async () => {
    const token = await accessToken('system/Questionnaire.read');
    const res = await postPackage(inputParameters({ order: true }), token);
    expect(res.status).toBe(200);
    expect(queries.at(-1)).toEqual({ orderRef: 'ServiceRequest/sr-1', coverageRef: 'Coverage/cov-1' });
  });

  test.each([
    ['malformed JSON', '{"resourceType": "Parameters",', 400],
    ['empty body', '', 400],
    ['no coverage', inputParameters({ coverage: false, context: 'assert-1' }), 400],
    ['unknown canonical', inputParameters({ questionnaire: 'https://nope.example/Q|1' }), 404],
    ['unknown assertion', inputParameters({ context: 'nope' }), 404],
  ])('%s: 4xx OperationOutcome', async (_name, body, status) => {
    const res = await postPackage(body, await accessToken());
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/application\/fhir\+json/);
    expect(JSON.parse(res.text).resourceType).toBe('OperationOutcome');
  });

  test('a store failure goes to the error handler', async () => {
    const res = await postPackage(inputParameters({ context: 'store-down' }), await accessToken());
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ handled: 'store unavailable' });
  });

  test('wrong methods and a token request not form-encoded', async () => {
    expect((await request(app).get(PACKAGE)).status).toBe(405);
    expect((await request(app).get('/auth/token')).status).toBe(405);
    const json = await request(app).post('/auth/token').send({ grant_type: 'client_credentials' });
    expect(json.status).toBe(400);
    expect(json.body.error).toBe('invalid_request');
  });
});
