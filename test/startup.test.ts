import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { clientJwt } from './support/jwt.js';
import { isolatedStore } from './support/app.js';

/** What stops the service at start-up, with a message naming the cause. */

const MAIN = fileURLToPath(new URL('../src/server/main.ts', import.meta.url));
const HOOKS = fileURLToPath(new URL('../hooks', import.meta.url));

function start(env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, ...isolatedStore(), PORT: '0', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('start-up refuses', () => {
  test('production with the development key trusted', () => {
    const run = start({
      NODE_ENV: 'production',
      CDS_PUBLIC_BASE_URL: 'https://crd.example.org',
      CDS_CORS_ORIGINS: 'https://ehr.example.org',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(
      /trusts development clients \(https:\/\/sandbox\.cds-hooks\.org, https:\/\/dev-client\.crd\.invalid[,)]/,
    );
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

  test('production without CDS_PUBLIC_BASE_URL, naming the variable', () => {
    const run = start({ NODE_ENV: 'production', CDS_CORS_ORIGINS: 'https://ehr.example.org' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/CDS_PUBLIC_BASE_URL: required with NODE_ENV=production/);
  });

  test('a port in use: one line naming address, port and cause, exit 1, no stack trace', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const port = (taken.address() as { port: number }).port;
    try {
      const run = start({ PORT: String(port) });
      expect(run.status).toBe(1);
      expect(run.stderr).toBe(
        `Cannot start: cannot listen on 127.0.0.1 port ${port}: the port is in use (another process listens there; stop it or set PORT) (EADDRINUSE)\n`,
      );
    } finally {
      taken.close();
    }
  });

  test('a bind address this machine does not have: one line, exit 1, no stack trace', () => {
    const run = start({ HOST: '203.0.113.7', PORT: '3999' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(
      /^Cannot start: cannot listen on 203\.0\.113\.7 port 3999: the address is not available on this machine .*\(EADDRNOTAVAIL\)\n$/,
    );
  });

  test('a trusted clients file that does not validate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'clients-'));
    writeFileSync(join(dir, 'clients.json'), JSON.stringify({ clients: [{ iss: 'https://ehr.example.org' }] }));
    const run = start({ CDS_TRUSTED_CLIENTS: join(dir, 'clients.json') });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/clients\.json: clients\[0\]: give exactly one of jwks, jwksFile, jwksUrl/);
  });
}, 60_000);

describe('PORT=0 in development without CDS_PUBLIC_BASE_URL', () => {
  test('the log prints the bound URL, and signed calls to localhost and 127.0.0.1 on that port are accepted', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      env: { ...process.env, PORT: '0', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let url = '';
      for await (const line of createInterface({ input: child.stdout })) {
        const m = /"msg":"listening on (http:\/\/127\.0\.0\.1:(\d+))\/cds-services"/.exec(line);
        if (m) {
          url = m[1]!;
          break;
        }
      }
      const port = new URL(url).port;
      expect(Number(port)).toBeGreaterThan(0);
      const nowSec = Math.floor(Date.now() / 1000);
      for (const base of [`http://localhost:${port}`, `http://127.0.0.1:${port}`]) {
        const aud = `${base}/cds-services`;
        const res = await fetch(aud, { headers: { Authorization: `Bearer ${await clientJwt({ aud, nowSec })}` } });
        expect([base, res.status]).toEqual([base, 200]);
      }
      // The aud must still be the URL called: a token for the other spelling is refused, and says what was expected.
      const wrong = await fetch(`http://127.0.0.1:${port}/cds-services`, {
        headers: {
          Authorization: `Bearer ${await clientJwt({ aud: `http://localhost:${port}/cds-services/x`, nowSec })}`,
        },
      });
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('www-authenticate')).toContain(`expected 'http://127.0.0.1:${port}/cds-services'`);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }, 30_000);
});
