/**
 * npm run explain -- fixtures/<file>.json
 * Evaluates an order-sign request (or a scenario fixture holding one) and prints, for each order in scope,
 * the criteria tree with met / not met / unknown and the evidence behind each node. Uses the scenario's
 * evaluationDate when it has one; a fhirServer named in the request is queried as the service would.
 */
import { readFileSync } from 'node:fs';
import { orderName } from '../src/fhir/order.js';
import { loadRegistry } from '../src/cds-hooks/registry.js';
import { orderSign } from '../src/cds-hooks/order-sign.js';
import { loadConfig } from '../src/server/config.js';
import { explainDecision } from '../src/rules/explain.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: npm run explain -- <order-sign request or scenario .json>\n');
  process.exit(2);
}
const config = loadConfig(process.env);
if (!config.ok) throw new Error(config.errors.join('; '));
const registry = loadRegistry(config.config.hooksDir);
if (!registry.ok) throw new Error(registry.errors.join('\n'));

const fixture = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
const body = (fixture['request'] ?? fixture) as Record<string, unknown>;
const serviceId = typeof fixture['service'] === 'string' ? fixture['service'] : registry.registry.services[0]?.definition.id;
const service = registry.registry.get(serviceId ?? '');
if (!service) throw new Error(`no service ${serviceId}`);
const date = typeof fixture['evaluationDate'] === 'string' ? new Date(`${fixture['evaluationDate']}T12:00:00Z`) : new Date();

const result = await orderSign(service, body, { settings: config.config, fetch, now: () => date });
if (!result.ok) {
  process.stdout.write(`HTTP ${result.failure.status}\n${JSON.stringify(result.failure.outcome, null, 2)}\n`);
  process.exit(1);
}
if (result.decisions.length === 0) process.stdout.write('No order in scope of this service.\n');
const entries = ((body['context'] as { draftOrders?: { entry?: { resource: Record<string, unknown> }[] } }).draftOrders?.entry ?? []).map((e) => e.resource);
for (const d of result.decisions) {
  const order = entries.find((o) => `${String(o['resourceType'])}/${String(o['id'])}` === d.reference);
  process.stdout.write(`${explainDecision(`${d.reference ?? 'order'} — ${order ? orderName(order, undefined, { withCode: true }) : ''}`, d)}\n\n`);
}
