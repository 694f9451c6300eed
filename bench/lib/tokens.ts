/** A client key generated for the bench, the trusted-clients file that trusts it, and pre-signed client JWTs. */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export interface BenchClient {
  readonly iss: string;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export const BENCH_ISS = 'https://bench-client.crd.invalid';

export async function benchClient(): Promise<BenchClient> {
  const { privateKey, publicKey } = await generateKeyPair('ES384');
  const kid = `bench-${randomUUID()}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES384', use: 'sig' };
  return { iss: BENCH_ISS, kid, privateKey, publicJwk };
}

/** A production trusted-clients file (no development client) that trusts only the bench key. */
export function writeTrustedClients(dir: string, client: BenchClient): string {
  const file = join(dir, 'trusted-clients.bench.json');
  writeFileSync(file, JSON.stringify({ clients: [{ iss: client.iss, jwks: { keys: [client.publicJwk] } }] }, null, 2));
  return file;
}

async function signOne(client: BenchClient, aud: string, nowSec: number, lifeSec: number): Promise<string> {
  return new SignJWT({ iss: client.iss, aud, iat: nowSec, exp: nowSec + lifeSec, jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES384', typ: 'JWT', kid: client.kid })
    .sign(client.privateKey);
}

/** `count` tokens, each with its own jti, for the exact URL called (`aud`). */
export async function signTokens(client: BenchClient, aud: string, count: number, lifeSec = 300): Promise<string[]> {
  const nowSec = Math.floor(Date.now() / 1000);
  const out: string[] = [];
  for (let i = 0; i < count; i += 256) {
    const batch = Array.from({ length: Math.min(256, count - i) }, () => signOne(client, aud, nowSec, lifeSec));
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

/** Hands out each token once; `exhausted` tells the load generator to stop. */
export class TokenPool {
  #next = 0;
  constructor(private readonly tokens: readonly string[]) {}
  take(): string | undefined {
    return this.tokens[this.#next++];
  }
  get used(): number {
    return Math.min(this.#next, this.tokens.length);
  }
  get size(): number {
    return this.tokens.length;
  }
}
