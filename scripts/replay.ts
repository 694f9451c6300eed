/**
 * npm run replay -- <fixture.json> [base URL]
 * Sends a fixture's order-sign request (a request file, or a scenario's `request`) to a running service, signed
 * with the development client key (fixtures/keys; trusted by config/trusted-clients.dev.json), and prints the answer.
 * Default base URL: http://localhost:3000. Exits 1 unless the answer is 200; 2 on bad arguments.
 */
import { CliError, fetchFailure, isRecord, parseHttpUrl, readJsonFile, run, usage } from './cli.js';
import { devToken } from './dev-key.js';

const USAGE = 'npm run replay -- <fixture.json> [base URL]   (default base URL http://localhost:3000)';
const TIMEOUT_MS = 15_000;

interface Replay {
  readonly url: string;
  readonly body: unknown;
}

function replayOf(file: string, base: string): Replay {
  const fixture = readJsonFile(file);
  if (!isRecord(fixture)) throw new CliError(`${file} is not an order-sign request or a scenario (a JSON object)`);
  const body = fixture['request'] ?? fixture;
  if (!isRecord(body) || body['hook'] === undefined) throw new CliError(`${file} is not an order-sign request or a scenario (no hook)`);
  const service = typeof fixture['service'] === 'string' ? fixture['service'] : 'cryoablation-order-sign';
  const root = parseHttpUrl(base, 'base URL');
  return { url: `${root.href.replace(/\/+$/, '')}/cds-services/${encodeURIComponent(service)}`, body };
}

async function send(r: Replay): Promise<Response> {
  try {
    return await fetch(r.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${await devToken(r.url)}` },
      body: JSON.stringify(r.body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    throw new CliError(`cannot reach ${r.url}: ${fetchFailure(e)}`);
  }
}

/** The answer, pretty-printed when it is JSON, as received otherwise. */
async function printable(res: Response): Promise<string> {
  const text = await res.text();
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

await run('replay', async () => {
  const args = process.argv.slice(2);
  const [file, base = 'http://localhost:3000'] = args;
  if (file === undefined || args.length > 2 || file.startsWith('-')) throw usage(USAGE);
  const res = await send(replayOf(file, base));
  process.stdout.write(`HTTP ${res.status}\n${await printable(res)}\n`);
  return res.status === 200 ? 0 : 1;
});
