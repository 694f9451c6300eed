// @ts-check
/**
 * Case (b)'s loopback FHIR server, in its own process: node:https (or http without a certificate), no framework,
 * no search engine. It answers the exact request paths recorded once at start-up (lib/fhir-record.ts: the
 * service's own queries against the test suite's Medplum server) from memory, so its cost per answer is a map
 * lookup and a write, and the measured latency is the service's.
 *
 * A base path `/delay-<ms>` before the FHIR path holds every answer under it for <ms> milliseconds (the bench's
 * parallelism check: N queries answered in about one delay when they run in parallel, N delays in sequence).
 * Plain JavaScript so that it runs without the tsx loader.
 *
 * Env: BENCH_FHIR_ANSWERS (JSON file: { answers: { "<path?query>": { status, body } } }, bodies with the
 * placeholder `{{base}}` for the server's base URL), BENCH_TLS_CERT and BENCH_TLS_KEY (PEM files; absent: http).
 * Tells the parent its base URL over IPC; answers `{ served, missed, connections }` to `{ stats: true }`; runs until
 * SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttp } from 'node:http';
import { createServer as createHttps } from 'node:https';

const BASE_PLACEHOLDER = '{{base}}';
const file = process.env['BENCH_FHIR_ANSWERS'] ?? '';
/** @type {{ answers: Record<string, { status: number, body: string }> }} */
const recorded = JSON.parse(readFileSync(file, 'utf8'));
const certFile = process.env['BENCH_TLS_CERT'];
const keyFile = process.env['BENCH_TLS_KEY'];
const tls = certFile && keyFile ? { cert: readFileSync(certFile), key: readFileSync(keyFile) } : undefined;

let served = 0;
let missed = 0;
let connections = 0;
/** @type {Map<string, Buffer>} one body per base path (the placeholder replaced), built on first use */
const bodies = new Map();

/** @param {string} base @param {string} key @param {string} text */
function bodyFor(base, key, text) {
  const cacheKey = `${base} ${key}`;
  let body = bodies.get(cacheKey);
  if (!body) {
    body = Buffer.from(text.split(BASE_PLACEHOLDER).join(base));
    bodies.set(cacheKey, body);
  }
  return body;
}

/** @type {import('node:http').RequestListener} */
function answer(req, res) {
  const url = req.url ?? '/';
  if (url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    return;
  }
  const m = /^\/delay-(\d+)(\/.*)$/.exec(url);
  const delayMs = m ? Number(m[1]) : 0;
  const rest = (m ? m[2] : url) ?? '/';
  const key = rest.replace(/^\/+/, '');
  const hit = recorded.answers[key];
  const origin = `${tls ? 'https' : 'http'}://${req.headers.host ?? '127.0.0.1'}`;
  const base = m ? `${origin}/delay-${delayMs}` : origin;
  const send = () => {
    if (!hit) {
      missed += 1;
      res
        .writeHead(404, { 'content-type': 'application/fhir+json' })
        .end('{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}');
      return;
    }
    served += 1;
    const body = bodyFor(base, key, hit.body);
    res.writeHead(hit.status, { 'content-type': 'application/fhir+json', 'content-length': body.length }).end(body);
  };
  if (delayMs > 0) setTimeout(send, delayMs);
  else send();
}

const server = tls ? createHttps(tls, answer) : createHttp(answer);
server.keepAliveTimeout = 30_000;
server.on(tls ? 'secureConnection' : 'connection', () => {
  connections += 1;
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.send?.({ fhirServer: `${tls ? 'https' : 'http'}://127.0.0.1:${port}` });
});
process.on('message', (m) => {
  if (typeof m === 'object' && m !== null && 'stats' in m) process.send?.({ served, missed, connections });
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
