/**
 * npm run explain -- fixtures/<file>.json
 * Evaluates an order-sign request (or a scenario fixture holding one) and prints, for each order in scope,
 * the criteria tree with met / not met / unknown and the evidence behind each node. Uses the scenario's
 * evaluationDate when it has one; a fhirServer named in the request is queried as the service would.
 * Exits 1 when the request is refused or cannot be read, 2 on bad arguments.
 */
import { orderName } from '../src/fhir/order.js';
import { loadRegistry } from '../src/cds-hooks/registry.js';
import { orderSign } from '../src/cds-hooks/order-sign.js';
import { loadConfig } from '../src/server/config.js';
import { explainDecision } from '../src/rules/explain.js';
import { CliError, isRecord, readJsonFile, run, usage } from './cli.js';

const USAGE = 'npm run explain -- <order-sign request or scenario .json>';

interface Fixture {
  readonly body: Record<string, unknown>;
  readonly serviceId: string | undefined;
  readonly date: Date;
}

function fixtureOf(file: string): Fixture {
  const fixture = readJsonFile(file);
  if (!isRecord(fixture)) throw new CliError(`${file} is not an order-sign request or a scenario (a JSON object)`);
  const body = fixture['request'] ?? fixture;
  if (!isRecord(body) || body['hook'] === undefined)
    throw new CliError(`${file} is not an order-sign request or a scenario (no hook)`);
  const evaluationDate = fixture['evaluationDate'];
  const date = typeof evaluationDate === 'string' ? new Date(`${evaluationDate}T12:00:00Z`) : new Date();
  if (Number.isNaN(date.getTime()))
    throw new CliError(`${file}: evaluationDate is not a date: ${String(evaluationDate)}`);
  return { body, serviceId: typeof fixture['service'] === 'string' ? fixture['service'] : undefined, date };
}

function draftEntries(body: Record<string, unknown>): Record<string, unknown>[] {
  const context = isRecord(body['context']) ? body['context'] : {};
  const drafts = isRecord(context['draftOrders']) ? context['draftOrders'] : {};
  const entries = Array.isArray(drafts['entry']) ? (drafts['entry'] as unknown[]) : [];
  return entries.flatMap((e) => (isRecord(e) && isRecord(e['resource']) ? [e['resource']] : []));
}

await run('explain', async () => {
  const args = process.argv.slice(2);
  const [file] = args;
  if (file === undefined || args.length > 1 || file.startsWith('-')) throw usage(USAGE);
  const f = fixtureOf(file);
  const config = loadConfig(process.env);
  if (!config.ok) throw new CliError(config.errors.join('; '));
  const registry = loadRegistry(config.config.hooksDir);
  if (!registry.ok) throw new CliError(registry.errors.join('; '));
  const serviceId = f.serviceId ?? registry.registry.services[0]?.definition.id ?? '';
  const service = registry.registry.get(serviceId);
  if (!service) throw new CliError(`no service ${serviceId} in ${config.config.hooksDir}`);

  const result = await orderSign(service, f.body, { settings: config.config, fetch, now: () => f.date });
  if (!result.ok) {
    process.stdout.write(`HTTP ${result.failure.status}\n${JSON.stringify(result.failure.outcome, null, 2)}\n`);
    return 1;
  }
  if (result.decisions.length === 0) process.stdout.write('No order in scope of this service.\n');
  const entries = draftEntries(f.body);
  for (const d of result.decisions) {
    const order = entries.find((o) => `${String(o['resourceType'])}/${String(o['id'])}` === d.reference);
    process.stdout.write(
      `${explainDecision(`${d.reference ?? 'order'} — ${order ? orderName(order, undefined, { withCode: true }) : ''}`, d)}\n\n`,
    );
  }
  return 0;
});
