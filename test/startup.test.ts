import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { isolatedStore } from './support/app.js';

/** What stops the service at start-up, with a message naming the cause. */

const MAIN = fileURLToPath(new URL('../src/server/main.ts', import.meta.url));
const HOOKS = fileURLToPath(new URL('../hooks', import.meta.url));

function start(env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', MAIN], { env: { ...process.env, ...isolatedStore(), PORT: '0', ...env }, encoding: 'utf8', timeout: 20_000 });
}

describe('start-up refuses', () => {
  test('production with the development key trusted', () => {
    const run = start({ NODE_ENV: 'production', CDS_CORS_ORIGINS: 'https://ehr.example.org' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/trusts development clients \(https:\/\/sandbox\.cds-hooks\.org, https:\/\/dev-client\.crd\.invalid[,)]/);
  });

  test('production with CDS_AUTH=off', () => {
    const run = start({ NODE_ENV: 'production', CDS_AUTH: 'off' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/CDS_AUTH: off is for local experiments/);
  });

  test('a broken hook definition, naming the file and the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hooks-'));
    cpSync(HOOKS, dir, { recursive: true });
    writeFileSync(join(dir, 'cryoablation', 'service.yaml'), 'id: x\nhook: order-sign\n');
    const run = start({ CDS_HOOKS_DIR: dir });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/cryoablation\/service\.yaml: title: /);
  });

  test('a trusted clients file that does not validate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'clients-'));
    writeFileSync(join(dir, 'clients.json'), JSON.stringify({ clients: [{ iss: 'https://ehr.example.org' }] }));
    const run = start({ CDS_TRUSTED_CLIENTS: join(dir, 'clients.json') });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/clients\.json: clients\.0: give exactly one of jwks, jwksFile, jwksUrl/);
  });
}, 60_000);
