import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { createLogger } from '../src/server/logger.js';
import { gracefulShutdown } from '../src/server/shutdown.js';
import { isolatedStore, testApp } from './support/app.js';
import { startFhirTestServer, type FhirTestServer } from './support/fhir-server.js';
import { patientResources, request as fixtureRequest } from './support/fixtures.js';

let fhir: FhirTestServer;
beforeAll(async () => {
  fhir = await startFhirTestServer({ resources: patientResources('renal-rcc') });
});
afterAll(async () => fhir.close());
beforeEach(() => fhir.reset());

function slowOrderSign(base: string): Promise<Response> {
  const body = fixtureRequest('renal-cryoablation-fhir.json');
  body['fhirServer'] = fhir.url;
  fhir.setFaults([{ delayMs: 400 }]);
  return fetch(`${base}/cds-services/cryoablation-order-sign`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function untilFhirIsCalled(): Promise<void> {
  while (fhir.requests.length === 0) await new Promise((r) => setTimeout(r, 10));
}

test('shutdown lets in-flight requests finish, then stops accepting and closes', async () => {
  const server = testApp().app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const inFlight = slowOrderSign(base);
  await untilFhirIsCalled();
  const stopped = gracefulShutdown(server, createLogger('silent'), 5000)();

  const res = await inFlight;
  expect(res.status).toBe(200);
  expect(((await res.json()) as { systemActions: unknown[] }).systemActions).toHaveLength(1);
  await stopped;
  expect(server.listening).toBe(false);
  await expect(fetch(`${base}/health`)).rejects.toThrow();
});

test('the service process answers its in-flight request after SIGTERM and exits 0', async () => {
  const main = fileURLToPath(new URL('../src/server/main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main], {
    env: { ...process.env, ...isolatedStore(), PORT: '0', LOG_LEVEL: 'info', CDS_AUTH: 'off' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  let port = 0;
  for await (const line of lines) {
    const entry = JSON.parse(line) as { port?: number };
    if (entry.port) {
      port = entry.port;
      break;
    }
  }
  try {
    const inFlight = slowOrderSign(`http://127.0.0.1:${port}`);
    await untilFhirIsCalled();
    child.kill('SIGTERM');
    const [res, [code]] = await Promise.all([inFlight, once(child, 'exit')]);
    expect(res.status).toBe(200);
    expect(code).toBe(0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}, 20_000);
