import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

// No Docker engine or cluster here: these check the deployment files' shape, and run the FHIR loader against a
// stand-in server.

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

interface Container {
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
  livenessProbe?: { httpGet?: { path: string } };
  readinessProbe?: { httpGet?: { path: string } };
}

describe('deployment files', () => {
  it('the Dockerfile compiles in a build stage and runs production dependencies as node, with a health check', () => {
    const dockerfile = read('Dockerfile');
    expect(dockerfile.match(/^FROM node:20-bookworm-slim AS \w+$/gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/RUN npm run build/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^EXPOSE 3000$/m);
    expect(dockerfile).toMatch(/HOST=0\.0\.0\.0/);
    expect(dockerfile).toMatch(/HEALTHCHECK[\s\S]*fetch\([\s\S]*\/health/);
    const ignored = read('.dockerignore').split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', 'data', '.git']));
  });

  it('compose runs PostgreSQL, two instances behind nginx, HAPI and its loader', () => {
    const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, any> };
    expect(Object.keys(compose.services).sort()).toEqual(['crd-1', 'crd-2', 'hapi', 'hapi-loader', 'lb', 'postgres']);
    for (const name of ['crd-1', 'crd-2']) {
      expect(compose.services[name].environment.DATABASE_URL).toMatch(/^postgres:\/\/.*@postgres:5432\//);
      expect(compose.services[name].environment.CDS_PUBLIC_BASE_URL).toBe('http://localhost:3000');
    }
    expect(compose.services.hapi.image).toMatch(/^hapiproject\/hapi:/);
    expect(compose.services['hapi-loader'].restart).toBe('no');
    const nginx = read('deploy/nginx/nginx.conf');
    expect(nginx).toMatch(/server crd-1:3000/);
    expect(nginx).toMatch(/server crd-2:3000/);
  });

  it('Kubernetes: probes on /health and /ready, the database URL from a Secret, HPA and PDB', () => {
    const dir = new URL('../../deploy/kubernetes/', import.meta.url);
    const docs = readdirSync(dir)
      .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
      .flatMap((f) =>
        parseAllDocuments(readFileSync(new URL(f, dir), 'utf8')).map((d) => d.toJS() as { kind: string; spec?: any }),
      );
    const kinds = docs.map((d) => d.kind).sort();
    expect(kinds).toEqual([
      'ConfigMap',
      'ConfigMap',
      'Deployment',
      'HorizontalPodAutoscaler',
      'PodDisruptionBudget',
      'Secret',
      'Secret',
      'Secret',
      'Service',
    ]);
    const deployment = docs.find((d) => d.kind === 'Deployment')!;
    const container = deployment.spec.template.spec.containers[0] as Container;
    expect(container.livenessProbe?.httpGet?.path).toBe('/health');
    expect(container.readinessProbe?.httpGet?.path).toBe('/ready');
    const databaseUrl = container.env?.find((e) => e.name === 'DATABASE_URL');
    expect(databaseUrl?.valueFrom?.secretKeyRef).toEqual({ name: 'crd-database', key: 'url' });
    expect(container.env?.find((e) => e.name === 'NODE_ENV')?.value).toBe('production');
    expect(container.env?.find((e) => e.name === 'CDS_ADMIN_CONSUMERS')?.value).toBe('/etc/crd-admin/consumers.json');
    expect(container.env?.find((e) => e.name === 'CDS_TOKEN_SIGNING_JWK')?.valueFrom?.secretKeyRef).toMatchObject({
      name: 'crd-token-key',
      key: 'jwk',
    });
    expect(
      deployment.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'admin-consumers')?.secret,
    ).toEqual({ secretName: 'crd-admin-consumers' });
    const kustomization = parse(read('deploy/kubernetes/kustomization.yaml')) as { resources: string[] };
    expect(kustomization.resources).not.toContain('secret.example.yaml');
  });

  it(
    'the loader waits for the FHIR server and PUTs every fixture resource in one transaction',
    { timeout: 20_000 },
    async () => {
      const received: Array<{ method: string; url: string; body: any }> = [];
      let metadataCalls = 0;
      const handle = async (req: IncomingMessage, res: ServerResponse) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const body = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
        received.push({ method: req.method ?? '', url: req.url ?? '', body });
        if (req.url === '/fhir/metadata') {
          metadataCalls += 1;
          res.writeHead(metadataCalls === 1 ? 503 : 200, { 'content-type': 'application/fhir+json' }).end('{}');
          return;
        }
        const entries = (body?.entry ?? []).map(() => ({ response: { status: '201 Created' } }));
        res
          .writeHead(200, { 'content-type': 'application/fhir+json' })
          .end(JSON.stringify({ resourceType: 'Bundle', type: 'transaction-response', entry: entries }));
      };
      const server = createServer((req, res) => void handle(req, res));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      try {
        const child = spawn(process.execPath, ['deploy/hapi-loader/load-fixtures.mjs'], {
          cwd: new URL('../../', import.meta.url),
          env: {
            ...process.env,
            FHIR_BASE_URL: `http://127.0.0.1:${port}/fhir`,
            LOADER_WAIT_SECONDS: '15',
            LOADER_RETRY_MS: '100',
          },
        });
        let output = '';
        child.stdout.on('data', (d) => (output += String(d)));
        child.stderr.on('data', (d) => (output += String(d)));
        const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
        expect(code, output).toBe(0);
        const post = received.find((r) => r.method === 'POST');
        expect(post?.url).toBe('/fhir');
        expect(post?.body.type).toBe('transaction');
        const urls = post!.body.entry.map((e: any) => `${e.request.method} ${e.request.url}`);
        expect(urls).toContain('PUT Patient/pat-renal-1');
        expect(urls).toContain('PUT Coverage/cov-renal-1');
        expect(new Set(urls).size).toBe(urls.length);
        expect(output).toMatch(/loaded \d+ resources/);
      } finally {
        server.close();
      }
    },
  );
});
