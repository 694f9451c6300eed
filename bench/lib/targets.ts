/** Starting the two kinds of server under test: the limit and the service, each in its own child process. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, spawnServer, type ServerChild } from './children.js';
import { serviceEnv, serviceScript, SERVICE_PATH } from './service.js';
import type { BenchClient } from './tokens.js';

const LIMIT_SCRIPT = fileURLToPath(new URL('../limit-server.mjs', import.meta.url));

export interface BenchContext {
  readonly tmpDir: string;
  readonly client: BenchClient;
  readonly trustedClientsFile: string;
}

export interface Running {
  readonly child: ServerChild;
  /** the exact URL called: every token's aud */
  readonly url: string;
}

export interface ServiceStart {
  readonly production: boolean;
  readonly fhirAllowlist?: string;
  readonly nodeOptions?: readonly string[];
  /** further variables, e.g. NODE_EXTRA_CA_CERTS for case (b)'s https FHIR server */
  readonly extraEnv?: Readonly<Record<string, string>>;
}

export async function startLimit(ctx: BenchContext, name: string): Promise<Running> {
  const port = await freePort();
  const child = await spawnServer({
    name,
    script: LIMIT_SCRIPT,
    port,
    logFile: join(ctx.tmpDir, `${name}.log`),
    env: {
      PORT: String(port),
      BENCH_ISS: ctx.client.iss,
      BENCH_JWKS: JSON.stringify({ keys: [ctx.client.publicJwk] }),
      NODE_ENV: 'production',
    },
  });
  return { child, url: `${child.base}${SERVICE_PATH}` };
}

export async function startService(ctx: BenchContext, name: string, o: ServiceStart): Promise<Running> {
  const port = await freePort();
  const child = await spawnServer({
    name,
    script: serviceScript(),
    port,
    logFile: join(ctx.tmpDir, `${name}.log`),
    env: {
      ...serviceEnv({
        port,
        trustedClientsFile: ctx.trustedClientsFile,
        production: o.production,
        tmpDir: ctx.tmpDir,
        name,
        ...(o.fhirAllowlist ? { fhirAllowlist: o.fhirAllowlist } : {}),
      }),
      ...o.extraEnv,
    },
    ...(o.nodeOptions ? { nodeOptions: o.nodeOptions } : {}),
  });
  return { child, url: `${child.base}${SERVICE_PATH}` };
}
