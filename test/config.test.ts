import { describe, expect, test } from 'vitest';
import { loadConfig } from '../src/server/config.js';

describe('the evaluation day', () => {
  test("is the day in the plan's time zone: 11:30 pm in Chicago on Dec 31 is still Dec 31", async () => {
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

describe('CDS_TOKEN_SIGNING_JWK (the key DTR access tokens are signed with, shared by every instance)', () => {
  test("a private EC P-256 JWK is taken; two apps with it accept each other's tokens", async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { accessTokenKey, backendServices } = await import('../src/server/dtr.js');
    const { StoreHolder } = await import('../src/server/store-holder.js');
    const { createLogger } = await import('../src/server/logger.js');
    const jwk = {
      ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
      kid: 'shared-1',
    };
    const result = loadConfig({
      CDS_TOKEN_SIGNING_JWK: JSON.stringify(jwk),
      CDS_PUBLIC_BASE_URL: 'https://crd.example.org',
    });
    if (!result.ok) throw new Error(result.errors.join());
    expect(result.config.tokenSigningJwk).toMatchObject({ kty: 'EC', crv: 'P-256', kid: 'shared-1' });
    const a = accessTokenKey(result.config);
    const b = accessTokenKey(result.config);
    expect(a.kid).toBe('shared-1');
    const { SignJWT } = await import('jose');
    const token = await new SignJWT({ scope: 'system/Questionnaire.rs' })
      .setProtectedHeader({ alg: 'ES256', kid: a.kid, typ: 'at+jwt' })
      .setIssuer('https://crd.example.org/auth/token')
      .setSubject('https://c.example')
      .setAudience('https://crd.example.org/fhir')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(a.privateKey);
    const logger = createLogger('silent');
    const store = new StoreHolder(result.config.store, logger, {
      auditQueueCapacity: 1,
      retryMs: 1000,
      purgeIntervalMs: 0,
    });
    const client = {
      iss: 'https://c.example',
      keys: () => Promise.reject(new Error('unused')),
    } as unknown as Parameters<typeof backendServices>[0]['clients'][number];
    const other = backendServices({ config: result.config, clients: [client], signingKey: b, store, logger });
    expect(await other.verifyAccessToken(`Bearer ${token}`)).toMatchObject({ ok: true, clientId: 'https://c.example' });
  });

  test.each([
    ['not JSON', '{"kty":', /CDS_TOKEN_SIGNING_JWK: must be a private JWK as JSON/],
    ['an RSA key', '{"kty":"RSA","n":"x","e":"AQAB","d":"y"}', /CDS_TOKEN_SIGNING_JWK: must be an EC P-256 JWK/],
    ['a public key', '{"kty":"EC","crv":"P-256","x":"a","y":"b"}', /CDS_TOKEN_SIGNING_JWK: must be a private JWK/],
  ])('%s is refused at start-up, never quoted', (_name, value, expected) => {
    const result = loadConfig({ CDS_TOKEN_SIGNING_JWK: value });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors.join('\n')).toMatch(expected);
      expect(result.errors.join('\n')).not.toContain(value);
    }
  });
});
