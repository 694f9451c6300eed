/**
 * Case (b)'s loopback FHIR server in its own process: the test suite's Medplum-router server
 * (test/support/fhir-server.ts), seeded with the resources in the JSON file BENCH_FHIR_RESOURCES.
 * Tells the parent its base URL over IPC and runs until SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { startFhirTestServer } from '../test/support/fhir-server.js';

const resources = JSON.parse(readFileSync(process.env['BENCH_FHIR_RESOURCES'] ?? '', 'utf8')) as fhir4.Resource[];
const server = await startFhirTestServer({ resources });
process.send?.({ fhirServer: server.url });
process.on('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
