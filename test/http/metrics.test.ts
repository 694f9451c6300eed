import request from 'supertest';
import { afterAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/server/config.js';
import { testApp, type TestApp } from '../support/app.js';

/** GET /metrics is open for in-cluster scrapes unless CDS_METRICS_TOKEN asks the scraper for a bearer token. */
const TOKEN = 'prometheus-scrape-token-0123456789abcdef';
const apps: TestApp[] = [];
afterAll(() => Promise.all(apps.map((a) => a.close())));
const appWith = (env: Record<string, string>) => {
  const t = testApp(env);
  apps.push(t);
  return t.app;
};

describe('GET /metrics', () => {
  test('without CDS_METRICS_TOKEN it answers the Prometheus text format', async () => {
    const res = await request(appWith({})).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.text).toContain('crd_order_sign_requests_total');
  });

  test.each([
    { what: 'no Authorization', header: undefined, challenge: 'Bearer realm="metrics"' },
    { what: 'another token', header: `Bearer ${TOKEN}x`, challenge: 'Bearer realm="metrics", error="invalid_token"' },
  ])(
    'with CDS_METRICS_TOKEN, $what is a 401 with an RFC 6750 challenge and no metrics',
    async ({ header, challenge }) => {
      const call = request(appWith({ CDS_METRICS_TOKEN: TOKEN })).get('/metrics');
      const res = await (header === undefined ? call : call.set('Authorization', header));
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(challenge);
      expect(res.text).not.toContain('crd_');
    },
  );

  test('with CDS_METRICS_TOKEN, the token opens it', async () => {
    const res = await request(appWith({ CDS_METRICS_TOKEN: TOKEN }))
      .get('/metrics')
      .set('Authorization', `Bearer ${TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('crd_order_sign_requests_total');
  });

  test('a short CDS_METRICS_TOKEN stops start-up naming the variable', () => {
    const result = loadConfig({ CDS_METRICS_TOKEN: 'short' });
    expect(!result.ok && result.errors.join()).toMatch(/CDS_METRICS_TOKEN/);
  });
});
