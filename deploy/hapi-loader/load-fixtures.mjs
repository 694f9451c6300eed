#!/usr/bin/env node
// One-shot loader: waits for the FHIR server, then sends the fixture patients as one transaction Bundle.
// Each fixture is a Bundle (collection) of resources with ids; each resource is PUT to Type/id, so the ids
// the fixtures' requests name are kept and running the loader again changes nothing.
//
//   FHIR_BASE_URL=http://hapi:8080/fhir FIXTURES_DIR=/fixtures/patients node load-fixtures.mjs
//   node load-fixtures.mjs --dry-run      # print the Bundle instead of sending it
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const base = (process.env.FHIR_BASE_URL ?? 'http://hapi:8080/fhir').replace(/\/+$/, '');
const dir = process.env.FIXTURES_DIR ?? new URL('../../fixtures/patients', import.meta.url).pathname;
const waitSeconds = Number(process.env.LOADER_WAIT_SECONDS ?? 300);
const retryMs = Number(process.env.LOADER_RETRY_MS ?? 2000);
const dryRun = process.argv.includes('--dry-run');

function resourcesOf(json) {
  if (json?.resourceType === 'Bundle') return (json.entry ?? []).map((e) => e.resource).filter(Boolean);
  return json?.resourceType ? [json] : [];
}

function transactionBundle(resources) {
  const seen = new Set();
  const entry = [];
  for (const resource of resources) {
    if (typeof resource.id !== 'string') throw new Error(`a ${resource.resourceType} without an id`);
    const url = `${resource.resourceType}/${resource.id}`;
    if (seen.has(url)) continue;
    seen.add(url);
    entry.push({ fullUrl: `${base}/${url}`, resource, request: { method: 'PUT', url } });
  }
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

function loadFixtures() {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  return files.flatMap((f) => resourcesOf(JSON.parse(readFileSync(join(dir, f), 'utf8'))));
}

async function waitForServer() {
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    try {
      const res = await fetch(`${base}/metadata`, { headers: { accept: 'application/fhir+json' } });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`FHIR server at ${base} not ready after ${waitSeconds} s`);
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}

async function main() {
  const bundle = transactionBundle(loadFixtures());
  if (dryRun) {
    process.stdout.write(`${JSON.stringify(bundle, null, 2)}\n`);
    return;
  }
  await waitForServer();
  const res = await fetch(base, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
    body: JSON.stringify(bundle),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`transaction failed: HTTP ${res.status} ${text.slice(0, 2000)}`);
  const statuses = (JSON.parse(text).entry ?? []).map((e) => e.response?.status ?? '?');
  console.log(`loaded ${bundle.entry.length} resources into ${base}: ${statuses.join(', ')}`);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
