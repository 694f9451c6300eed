import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { TestProject } from 'vitest/node';

/**
 * vitest globalSetup: the RSA and EC test keys, generated once per run (RSA generation is slow on a loaded
 * machine) and handed to every test file with `inject('testKeys')` (test/support/keys.ts).
 */

export const TEST_KEY_ALGS = ['ES384', 'RS384', 'RS256'] as const;
export type TestKeyAlg = (typeof TEST_KEY_ALGS)[number];
export type TestKeys = Record<TestKeyAlg, { pub: JWK; priv: JWK }>;

declare module 'vitest' {
  export interface ProvidedContext {
    testKeys: TestKeys;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const pairs = await Promise.all(
    TEST_KEY_ALGS.map(async (alg) => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      return [alg, { pub: await exportJWK(publicKey), priv: await exportJWK(privateKey) }] as const;
    }),
  );
  project.provide('testKeys', Object.fromEntries(pairs) as TestKeys);
}
