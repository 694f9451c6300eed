import type { JWK } from 'jose';
import { inject } from 'vitest';
import type { TestKeyAlg } from './keys.global.js';

/** A test key pair generated once per run (keys.global.ts), with the kid and alg a test gives it. */
export function testKeyPair(alg: TestKeyAlg, kid: string): { pub: JWK; priv: JWK } {
  const pair = inject('testKeys')[alg];
  return { pub: { ...pair.pub, kid, alg }, priv: { ...pair.priv, kid, alg } };
}
