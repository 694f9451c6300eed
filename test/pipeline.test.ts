import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { orderSign } from '../src/cds-hooks/order-sign.js';
import type { PipelineSettings } from '../src/cds-hooks/settings.js';
import { configFrom } from '../src/server/config.js';
import { pipelineSettings } from '../src/server/pipeline-settings.js';
import { shippedRegistry } from './support/app.js';

const service = shippedRegistry().get('cryoablation-order-sign')!;
const request = JSON.parse(
  readFileSync(new URL('../fixtures/requests/renal-cryoablation-prefetched.json', import.meta.url), 'utf8'),
) as unknown;
const now = () => new Date('2026-11-23T12:00:00Z');
const noFetch = (() => Promise.reject(new Error('no FHIR server in this test'))) as typeof fetch;

describe('the order-sign pipeline runs on plain settings', () => {
  test('settings written as a value decide as the configuration does, without reading the environment', async () => {
    const settings: PipelineSettings = {
      production: false,
      publicBaseUrl: 'http://localhost:3000',
      timeZone: 'UTC',
      fhirTimeoutMs: 1000,
      fhirMaxPages: 10,
      limits: {
        draftOrders: 20,
        resources: 5000,
        fhirResponseBytes: 10 * 1024 * 1024,
        fhirTotalBytes: 20 * 1024 * 1024,
      },
    };
    const plain = await orderSign(service, structuredClone(request), { settings, fetch: noFetch, now });
    const configured = await orderSign(service, structuredClone(request), {
      settings: pipelineSettings(configFrom()),
      fetch: noFetch,
      now,
    });
    expect(plain.ok && configured.ok).toBe(true);
    if (!plain.ok || !configured.ok) return;
    expect(plain.decisions.map((d) => d.outcome)).toEqual(configured.decisions.map((d) => d.outcome));
    expect(plain.decisions.length).toBeGreaterThan(0);
  });

  test('the decision names the criteria that decided it', async () => {
    const result = await orderSign(service, structuredClone(request), {
      settings: pipelineSettings(configFrom()),
      fetch: noFetch,
      now,
    });
    if (!result.ok) throw new Error(`HTTP ${result.failure.status}`);
    expect(result.decisions.length).toBeGreaterThan(0);
    for (const d of result.decisions) {
      if (d.outcome === 'documentation-needed' || d.outcome === 'no-coverage') expect(d.decisive).toEqual([]);
      else expect(d.decisive.length).toBeGreaterThan(0);
      for (const id of d.decisive) expect(service.policy.nodes.has(id)).toBe(true);
    }
  });
});
