import { describe, expect, test } from 'vitest';
import { loadConfig } from '../src/server/config.js';

describe('the evaluation day', () => {
  test('is the day in the plan\'s time zone: 11:30 pm in Chicago on Dec 31 is still Dec 31', async () => {
    const { dayIn } = await import('../src/cds-hooks/stages/evaluate.js');
    const instant = new Date('2027-01-01T05:30:00Z');
    expect(dayIn(instant, 'America/Chicago')).toBe('2026-12-31');
    expect(dayIn(instant, 'UTC')).toBe('2027-01-01');
  });
});

describe('configuration from the environment', () => {
  test('defaults match the README', () => {
    const result = loadConfig({});
    if (!result.ok) throw new Error(result.errors.join());
    expect(result.config).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      publicBaseUrl: 'http://localhost:3000',
      fhirTimeoutMs: 3000,
      bodyLimit: '5mb',
      corsOrigins: '*',
      prefetchMode: 'minimal',
      logLevel: 'info',
    });
  });

  test('production allows no browser origin unless configured', () => {
    const result = loadConfig({ NODE_ENV: 'production', CDS_PUBLIC_BASE_URL: 'https://crd.example.org' });
    expect(result.ok && result.config.corsOrigins).toEqual([]);
  });

  test('an origin list is split and trimmed', () => {
    const result = loadConfig({ CDS_CORS_ORIGINS: 'https://sandbox.cds-hooks.org/, http://localhost:8080' });
    expect(result.ok && result.config.corsOrigins).toEqual(['https://sandbox.cds-hooks.org', 'http://localhost:8080']);
  });

  test.each([
    ['PORT', 'abc', /PORT: must be a whole number/],
    ['CDS_FHIR_TIMEOUT_MS', '0', /CDS_FHIR_TIMEOUT_MS: /],
    ['CDS_BODY_LIMIT', 'lots', /CDS_BODY_LIMIT: must look like 500kb or 5mb/],
    ['CDS_PREFETCH', 'some', /CDS_PREFETCH: /],
    ['CDS_PUBLIC_BASE_URL', 'ftp://x', /CDS_PUBLIC_BASE_URL: /],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL: /],
    ['CDS_TIMEZONE', 'Mars/Olympus', /CDS_TIMEZONE: must be an IANA time zone/],
  ])('rejects %s=%s with a message naming the variable', (name, value, expected) => {
    const result = loadConfig({ [name]: value });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.join('\n')).toMatch(expected);
  });
});
