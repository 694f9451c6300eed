import { dirname } from 'node:path';
import { createClient } from '@libsql/client';
import pg from 'pg';
import request from 'supertest';
import { afterAll } from 'vitest';
import { testApp, type TestApp } from '../support/app.js';
import { request as requestFixture } from '../support/fixtures.js';
import { clientJwt } from '../support/jwt.js';
import { freshTarget, type Target } from '../store/support.js';
import type { Engine } from '../../src/store/index.js';

export { engines, cleanupTargets, postgresUrl, startProxy } from '../store/support.js';

export const SERVICE = '/cds-services/cryoablation-order-sign';
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef0123456789';
export const TABLES = ['coverage_assertion', 'card_link', 'audit_record', 'feedback', 'jti_replay'] as const;

/** The environment that points an app at a target (SQLite folder or PostgreSQL database). */
export function storeEnv(target: Target, url?: string): Record<string, string> {
  const config = target.config(url ? { url } : {});
  return config.engine === 'sqlite' ? { CDS_DATA_DIR: dirname(config.file) } : { DATABASE_URL: config.databaseUrl };
}

export async function targetFor(engine: Engine): Promise<Target> {
  return freshTarget(engine);
}

/** An app on the target, authenticated calls on, the admin endpoint on; resolves once its store is open (as /ready gates traffic). */
export async function appOn(target: Target, env: Record<string, string> = {}): Promise<TestApp> {
  const app = testApp({
    CDS_AUTH: 'on',
    CDS_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: 'silent',
    CDS_STORE_RETRY_MS: '200',
    ...storeEnv(target),
    ...env,
  });
  await app.store.get(30_000);
  return app;
}

/** The renal cryoablation request (in scope, covered), with its own hookInstance. */
export function signRequest(hookInstance = crypto.randomUUID()): Record<string, any> {
  return { ...requestFixture('renal-cryoablation-prefetched.json'), hookInstance };
}

/** The same request with nothing in scope. */
export function outOfScopeRequest(): Record<string, any> {
  const body = signRequest();
  body['context']['draftOrders']['entry'][0]['resource']['code'] = {
    coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '99213' }],
  };
  return body;
}

export async function token(app: TestApp, path: string): Promise<string> {
  return clientJwt({ aud: `${app.config.publicBaseUrl}${path}` });
}

export async function sign(app: TestApp, body: object = signRequest(), jwt?: string): Promise<request.Response> {
  return request(app.app)
    .post(SERVICE)
    .set('Authorization', `Bearer ${jwt ?? (await token(app, SERVICE))}`)
    .send(body);
}

export function assertionIds(body: {
  systemActions?: {
    resource?: { extension?: { url: string; extension?: { url: string; valueString?: string }[] }[] };
  }[];
}): string[] {
  return (body.systemActions ?? []).flatMap((a) =>
    (a.resource?.extension ?? []).flatMap((e) =>
      (e.extension ?? []).filter((s) => s.url === 'coverage-assertion-id').map((s) => s.valueString!),
    ),
  );
}

/** `authToken` null: no Authorization header. */
export function lookup(app: TestApp, id: string, authToken: string | null = ADMIN_TOKEN): request.Test {
  const r = request(app.app).get(`/coverage-assertions/${id}`);
  return authToken === null ? r : r.set('Authorization', `Bearer ${authToken}`);
}

/** Every row of every table, as one JSON text per table (for "no secret stored" checks). */
export async function dumpRows(target: Target): Promise<Record<string, unknown[]>> {
  const config = target.config();
  const out: Record<string, unknown[]> = {};
  if (config.engine === 'sqlite') {
    const client = createClient({ url: `file:${config.file}` });
    try {
      for (const t of TABLES) out[t] = (await client.execute(`SELECT * FROM ${t}`)).rows.map((r) => ({ ...r }));
    } finally {
      client.close();
    }
    return out;
  }
  const client = new pg.Client({ connectionString: config.databaseUrl });
  await client.connect();
  try {
    for (const t of TABLES) out[t] = (await client.query(`SELECT * FROM ${t}`)).rows;
  } finally {
    await client.end();
  }
  return out;
}

/** Waits until `check` holds (polling), for what happens after the answer (queued audit records, recovery). */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Apps a test file opens, all closed after the file: `const track = trackApps();` then `track(await appOn(...))`. */
export function trackApps(): (app: TestApp) => TestApp {
  const apps: TestApp[] = [];
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
  }, 60_000);
  return (app) => {
    apps.push(app);
    return app;
  };
}
