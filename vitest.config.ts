import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // RSA and EC test keys are generated once per run, not per file (test/support/keys.ts).
    globalSetup: ['test/support/keys.global.ts'],
  },
});
