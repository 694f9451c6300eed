/**
 * Case (b)'s FHIR answers, recorded once at start-up: the service (production mode, as measured) queries the test
 * suite's Medplum server through an https recorder in the harness; every answer is kept under the path the service
 * asked for, the Medplum base replaced by a placeholder. bench/fhir-replay-server.mjs then serves them from memory.
 * The certificate is made at run time with the openssl CLI; the service trusts it through NODE_EXTRA_CA_CERTS.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Check } from './measure.js';
import { sequentialCost } from './measure.js';
import { spawnFhirServer, spawnReplayServer, type FhirChild } from './children.js';
import { startService, type BenchContext } from './targets.js';
import { fetchFromFhir, prefetchResources } from './workload.js';

export interface Tls {
  readonly certFile: string;
  readonly keyFile: string;
}

/** A self-signed P-256 certificate for 127.0.0.1, valid one day, made with the openssl CLI. */
export function makeCertificate(dir: string): Tls {
  const certFile = join(dir, 'fhir-cert.pem');
  const keyFile = join(dir, 'fhir-key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile };
}

export const BASE_PLACEHOLDER = '{{base}}';

export interface RecordedAnswers {
  readonly answers: Record<string, { status: number; body: string }>;
}

/** Drains the request (the service's queries are GETs without a body). */
async function readBody(req: IncomingMessage): Promise<void> {
  req.resume();
  await once(req, 'end');
}

/** The https recorder: forwards to `upstream` and keeps each answer under its path relative to the base. */
async function recorder(
  tls: Tls,
  upstream: string,
): Promise<{ url: string; answers: RecordedAnswers['answers']; close(): Promise<void> }> {
  const answers: RecordedAnswers['answers'] = {};
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    await readBody(req);
    const key = (req.url ?? '/').replace(/^\/+/, '');
    const headers: Record<string, string> = { accept: 'application/fhir+json' };
    if (req.headers.authorization) headers['authorization'] = req.headers.authorization;
    const up = await fetch(`${upstream}/${key}`, { headers });
    const body = (await up.text()).split(upstream).join(BASE_PLACEHOLDER);
    answers[key] = { status: up.status, body };
    res.writeHead(up.status, { 'content-type': 'application/fhir+json' }).end(body.split(BASE_PLACEHOLDER).join(url));
  };
  const server = createServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, (req, res) => {
    handle(req, res).catch(() => res.writeHead(502).end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    answers,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/**
 * Records the answers to the FHIR queries the service makes for `bodyFor(base)`, by one production service
 * child that trusts `tls`; writes them to `file`. Returns how many queries one call makes.
 */
export async function recordFhirAnswers(
  ctx: BenchContext,
  o: {
    readonly tls: Tls;
    readonly upstream: string;
    readonly bodyFor: (fhirServer: string) => string;
    readonly check: Check;
    readonly file: string;
  },
): Promise<{ queries: number }> {
  const rec = await recorder(o.tls, o.upstream);
  try {
    const run = await startService(ctx, 'service-record', {
      production: true,
      fhirAllowlist: rec.url,
      extraEnv: { NODE_EXTRA_CA_CERTS: o.tls.certFile },
    });
    try {
      await sequentialCost(ctx, run, o.bodyFor(rec.url), o.check, 0, 1);
    } finally {
      await run.child.stop();
    }
  } finally {
    await rec.close();
  }
  const queries = Object.keys(rec.answers).length;
  if (queries === 0) throw new Error('the service made no FHIR query for case (b): nothing to record');
  writeFileSync(o.file, JSON.stringify({ answers: rec.answers } satisfies RecordedAnswers));
  return { queries };
}

/** Case (b)'s FHIR server: the scenario's answers recorded from the Medplum test server, then replayed over https. */
export async function replayServer(
  ctx: BenchContext,
  tls: Tls,
  request: Record<string, unknown>,
  check: Check,
): Promise<{ server: FhirChild; queries: number }> {
  const resourcesFile = join(ctx.tmpDir, 'fhir-resources.json');
  writeFileSync(resourcesFile, JSON.stringify(prefetchResources(request)));
  const answersFile = join(ctx.tmpDir, 'fhir-answers.json');
  const medplum = await spawnFhirServer(resourcesFile, join(ctx.tmpDir, 'fhir-server.log'));
  let queries: number;
  try {
    ({ queries } = await recordFhirAnswers(ctx, {
      tls,
      upstream: medplum.url,
      bodyFor: (fhirServer) => JSON.stringify(fetchFromFhir(request, fhirServer)),
      check,
      file: answersFile,
    }));
  } finally {
    await medplum.stop();
  }
  const server = await spawnReplayServer(answersFile, tls, join(ctx.tmpDir, 'fhir-replay.log'));
  return { server, queries };
}
