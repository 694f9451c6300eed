import { defineConfig } from 'vitest/config';

/**
 * Two projects: the suite, and test/interop, whose client (@medplum/core 5.x, installed as medplum-core-5)
 * needs the WebSocket global that Node 20 only has with --experimental-websocket (Node 22 has it by default).
 */
export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: ['test/interop/**'] } },
      { extends: true, test: { name: 'interop', include: ['test/interop/**/*.test.ts'], execArgv: ['--experimental-websocket'] } },
    ],
  },
});
