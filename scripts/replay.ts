/**
 * npm run replay -- <fixture.json> [base URL]
 * Sends a fixture's order-sign request (a request file, or a scenario's `request`) to a running service, signed
 * with the development client key (fixtures/keys; trusted by config/trusted-clients.dev.json), and prints the answer.
 * Default base URL: http://localhost:3000. Exits 1 unless the answer is 200.
 */
import { readFileSync } from 'node:fs';
import { clientJwt } from '../test/support/jwt.js';

const [file, base = 'http://localhost:3000'] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: npm run replay -- <fixture.json> [base URL]\n');
  process.exit(2);
}
const fixture = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
const body = fixture['request'] ?? fixture;
const service = typeof fixture['service'] === 'string' ? fixture['service'] : 'cryoablation-order-sign';
const url = `${base.replace(/\/+$/, '')}/cds-services/${service}`;
const token = await clientJwt({ aud: url, nowSec: Math.floor(Date.now() / 1000) });
const res = await fetch(url, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
  body: JSON.stringify(body),
});
process.stdout.write(`HTTP ${res.status}\n${JSON.stringify(await res.json(), null, 2)}\n`);
process.exit(res.status === 200 ? 0 : 1);
