import request from 'supertest';
import { describe, expect, test } from 'vitest';
import { templateProblem, ORDER_SIGN_TOKENS } from '../../src/cds-hooks/prefetch.js';
import { testApp } from '../support/app.js';
import { request as fixtureRequest } from '../support/fixtures.js';

const SERVICE = '/cds-services/cryoablation-order-sign';

describe('GET /cds-services', () => {
  test('lists the order-sign service with the CDS Hooks 2.0 required fields', async () => {
    const res = await request(testApp().app).get('/cds-services').set('Accept', 'application/json');
    expect(res.status).toBe(200);
    expect(res.type).toBe('application/json');
    expect(res.body.services).toHaveLength(1);
    const [service] = res.body.services;
    expect(service).toMatchObject({ hook: 'order-sign', id: 'cryoablation-order-sign' });
    for (const field of ['hook', 'id', 'title', 'description', 'usageRequirements']) {
      expect(typeof service[field]).toBe('string');
      expect(service[field].length).toBeGreaterThan(0);
    }
  });

  test('by default (CRD) prefetches only what every call needs: Patient and active Coverage', async () => {
    const res = await request(testApp().app).get('/cds-services');
    expect(res.body.services[0].prefetch).toEqual({
      patient: 'Patient/{{context.patientId}}',
      coverage: 'Coverage?patient={{context.patientId}}&status=active',
    });
  });

  test('CDS_PREFETCH=full advertises every data query as a prefetch template', async () => {
    const res = await request(testApp({ CDS_PREFETCH: 'full' }).app).get('/cds-services');
    const prefetch = res.body.services[0].prefetch as Record<string, string>;
    expect(Object.keys(prefetch)).toEqual([
      'patient',
      'coverage',
      'conditions',
      'labResults',
      'cancerObservations',
      'bodyStructures',
      'procedures',
      'questionnaireResponses',
    ]);
    expect(prefetch['conditions']).toBe('Condition?patient={{context.patientId}}');
  });

  test('every advertised template uses only root-level prefetch tokens and standard search parameters', async () => {
    const res = await request(testApp({ CDS_PREFETCH: 'full' }).app).get('/cds-services');
    for (const template of Object.values(res.body.services[0].prefetch as Record<string, string>)) {
      expect(templateProblem(template, ORDER_SIGN_TOKENS)).toBeUndefined();
      if (template.includes('?')) expect(template).toMatch(/[?&]patient=\{\{context\.patientId\}\}/);
      for (const code of template.match(/code=([^&]*)/)?.[1]?.split(',') ?? []) {
        expect(code).toMatch(/^https?:\/\/[^|]+\|[^|,]+$/);
      }
    }
  });

  test('carries the CRD configuration options: one boolean per card type and max-cards, each fully described', async () => {
    const res = await request(testApp().app).get('/cds-services');
    const options = res.body.services[0].extension['davinci-crd.configuration-options'] as Record<string, unknown>[];
    expect(options.map((o) => o['code'])).toEqual(['coverage-info', 'guideline', 'max-cards']);
    for (const o of options) {
      expect(Object.keys(o).sort()).toEqual(['code', 'default', 'description', 'name', 'type']);
      expect(o['code']).toMatch(/^[A-Za-z_][A-Za-z0-9_-]*$/);
      expect(typeof o['default']).toBe(o['type'] === 'boolean' ? 'boolean' : 'number');
    }
    expect(options.find((o) => o['code'] === 'max-cards')).toMatchObject({ type: 'integer' });
  });

  test('omits empty optional fields (no null, no empty strings or arrays)', async () => {
    const res = await request(testApp().app).get('/cds-services');
    const json = JSON.stringify(res.body);
    expect(json).not.toMatch(/null|""|\[\]|\{\}/);
  });
});

describe('CORS for browser clients (CDS Hooks Sandbox)', () => {
  const ORIGIN = 'https://sandbox.cds-hooks.org';

  test.each([
    ['/cds-services', 'GET'],
    [SERVICE, 'POST'],
    [`${SERVICE}/feedback`, 'POST'],
  ])('preflight on %s is answered without authentication and allows the Sandbox headers', async (path, method) => {
    const res = await request(testApp().app)
      .options(path)
      .set('Origin', ORIGIN)
      .set('Access-Control-Request-Method', method)
      .set('Access-Control-Request-Headers', 'authorization,content-type');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(res.headers['access-control-allow-methods']).toContain(method);
    // Issue 9: the requested headers are reflected (Accept is CORS-safelisted, so browsers never ask for it).
    const allowed = String(res.headers['access-control-allow-headers']).toLowerCase().split(',');
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type']));
  });

  test.each([
    ['discovery', (a: any) => request(a).get('/cds-services'), 200],
    [
      'a hook call',
      (a: any) => request(a).post(SERVICE).send(fixtureRequest('renal-cryoablation-prefetched.json')),
      200,
    ],
    ['a 422', (a: any) => request(a).post(SERVICE).send({}), 422],
    [
      'a 412',
      (a: any) =>
        request(a)
          .post(SERVICE)
          .send({ ...fixtureRequest('renal-cryoablation-prefetched.json'), prefetch: {} }),
      412,
    ],
    ['a 404', (a: any) => request(a).post('/cds-services/none').send({}), 404],
  ])('actual answers carry the allow-origin header too (%s)', async (_name, send, status) => {
    const res = await send(testApp().app).set('Origin', ORIGIN);
    expect(res.status).toBe(status);
    expect(res.headers['access-control-allow-origin']).toBe(ORIGIN);
  });

  test('a preflight from an origin not on the list gets no allow-origin header', async () => {
    const res = await request(testApp({ CDS_CORS_ORIGINS: ORIGIN }).app)
      .options(SERVICE)
      .set('Origin', 'https://evil.example')
      .set('Access-Control-Request-Method', 'POST');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  test('a configured origin list admits listed origins only', async () => {
    const { app } = testApp({ CDS_CORS_ORIGINS: ORIGIN });
    const listed = await request(app).get('/cds-services').set('Origin', ORIGIN);
    const other = await request(app).get('/cds-services').set('Origin', 'https://evil.example');
    expect(listed.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  test('production without a configured list admits no browser origin', async () => {
    const res = await request(
      testApp({ NODE_ENV: 'production', CDS_AUTH: 'on', CDS_PUBLIC_BASE_URL: 'http://localhost:3000' }).app,
    )
      .options(SERVICE)
      .set('Origin', ORIGIN)
      .set('Access-Control-Request-Method', 'POST');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('GET /health', () => {
  test('answers 200 while the process is alive', async () => {
    const res = await request(testApp().app).get('/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });
});
