import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * Two projects: the suite, and test/interop, whose client (@medplum/core 5.x, installed as medplum-core-5)
 * needs the WebSocket global that Node 20 only has with --experimental-websocket (Node 22 has it by default).
 */
export default defineConfig({
  test: {
    // RSA and EC test keys are generated once per run, not per file (test/support/keys.ts).
    globalSetup: ['test/support/keys.global.ts'],
    // Test files share their worker's module cache: src/, fhirpath.js, Medplum and the rest are imported once per
    // worker instead of once per file (the import phase was ~37 s of a ~190 s run). No test mocks modules, stubs
    // globals or the environment, or fakes timers, so nothing a file does reaches the next one through a module;
    // each test file itself is still evaluated afresh.
    isolate: false,
    // On a loaded 2-core machine an in-process HTTP test takes up to ~2.5 s (measured with load average 16); the
    // default 5 s leaves less than 2x. 20 s keeps every test without its own timeout at 3x or more; tests that
    // spawn processes or run long (start-up, shutdown, scripts, fuzz, store) set their own.
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // At least two test files at a time: vitest's default (cores - 1) is one on 2 cores, where the run used under
    // half a core on average (79 s of CPU in 165 s), waiting on spawned processes, servers and the database.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: ['test/interop/**'] } },
      {
        extends: true,
        test: { name: 'interop', include: ['test/interop/**/*.test.ts'], execArgv: ['--experimental-websocket'] },
      },
    ],
  },
});
