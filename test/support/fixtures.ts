import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FhirTestServer } from './fhir-server.js';
import { expandTemplate } from '../../src/cds-hooks/prefetch.js';
import type { HookService } from '../../src/cds-hooks/registry.js';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- callers name the type of the JSON file they read
export function fixture<T = Record<string, unknown>>(relative: string): T {
  return JSON.parse(readFileSync(`${FIXTURES}${relative}`, 'utf8')) as T;
}

/** A fresh deep copy of a request fixture, so tests can mutate it freely. */
export function request(relative: string): Record<string, any> {
  return fixture(`requests/${relative}`);
}

export function patientResources(name: string): fhir4.Resource[] {
  const bundle = fixture<fhir4.Bundle>(`patients/${name}.json`);
  return (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
}

/**
 * Prefetch exactly as a conforming EHR would build it: each of the service's templates run against the FHIR
 * server (CDS Hooks: prefetch data MUST equal what the service would get by running the query itself).
 */
export async function prefetchFrom(
  server: FhirTestServer,
  service: HookService,
  context: { userId: string; patientId: string; encounterId?: string },
  keys: readonly string[],
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const query = service.queries.find((q) => q.key === key);
    if (!query) throw new Error(`no query ${key}`);
    const url = expandTemplate(query.template, context);
    if (!url) throw new Error(`template ${key} does not expand`);
    const res = await fetch(`${server.url}/${url}`);
    const body = (await res.json()) as fhir4.Resource;
    out[key] = res.status === 404 ? null : body;
  }
  return out;
}
