import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { TrustedClient } from './trusted-clients.js';

/**
 * CDS Hooks 2.0 "Trusting CDS Clients" with the best practices: a signed JWT on every call, asymmetric algorithms
 * only, a trusted `iss`, a `kid` found in that client's keys (from an allowlisted `jku` only), `aud` = the URL
 * called, `exp`, `iat` not in the future, `jti` not replayed within the token's life, `tenant` when configured.
 * A failure carries the reason for the log; the client is told nothing.
 */

export const ALGORITHMS = ['ES384', 'RS384', 'ES256', 'RS256', 'ES512', 'RS512', 'PS256', 'PS384', 'PS512'] as const;

export interface AuthOptions {
  readonly clients: readonly TrustedClient[];
  readonly clockSkewSec: number;
  readonly now?: () => number;
}

export type AuthResult =
  | { ok: true; client: TrustedClient; claims: JWTPayload }
  | { ok: false; reason: string; iss?: string };

export interface Authenticator {
  /** `audience` is the absolute URL the client called. */
  verify(authorization: string | undefined, audience: string): Promise<AuthResult>;
}

/** Seen jti per issuer until the token expires; bounded, oldest first out. */
function replayCache(limit = 100_000) {
  const seen = new Map<string, number>();
  return {
    seenBefore(key: string, expiresAtMs: number, nowMs: number): boolean {
      for (const [k, exp] of seen) {
        if (exp > nowMs && seen.size < limit) break;
        seen.delete(k);
      }
      if (seen.has(key) && (seen.get(key) ?? 0) > nowMs) return true;
      seen.set(key, expiresAtMs);
      return false;
    },
  };
}

function unverifiedParts(token: string): { header: ReturnType<typeof decodeProtectedHeader>; payload: JWTPayload } | undefined {
  try {
    return { header: decodeProtectedHeader(token), payload: decodeJwt(token) };
  } catch {
    return undefined;
  }
}

export function authenticator(opts: AuthOptions): Authenticator {
  const byIssuer = new Map(opts.clients.map((c) => [c.iss, c]));
  const replays = replayCache();
  const now = opts.now ?? Date.now;
  return {
    async verify(authorization, audience) {
      const m = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)\s*$/i.exec(authorization ?? '');
      if (!authorization) return { ok: false, reason: 'no Authorization header' };
      if (!m?.[1]) return { ok: false, reason: 'Authorization is not a Bearer JWT' };
      const token = m[1];
      const parts = unverifiedParts(token);
      if (!parts) return { ok: false, reason: 'the token does not decode' };
      const { header, payload } = parts;
      if (!header.alg || !(ALGORITHMS as readonly string[]).includes(header.alg)) return { ok: false, reason: `algorithm ${String(header.alg)} is not accepted` };
      if (!header.kid) return { ok: false, reason: 'no kid in the header' };
      const iss = typeof payload.iss === 'string' ? payload.iss : undefined;
      const client = iss ? byIssuer.get(iss) : undefined;
      if (!client) return { ok: false, reason: 'issuer is not a trusted client', ...(iss ? { iss } : {}) };
      if (header.jku !== undefined && !client.allowedJku.includes(header.jku)) return { ok: false, reason: 'jku is not on the client\'s allowlist', iss: client.iss };
      const audiences = client.audience === undefined ? [audience] : [audience, ...[client.audience].flat()];
      let claims: JWTPayload;
      try {
        ({ payload: claims } = await jwtVerify(token, client.keys, {
          issuer: client.iss,
          audience: audiences,
          algorithms: [...ALGORITHMS],
          clockTolerance: opts.clockSkewSec,
          requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti'],
          currentDate: new Date(now()),
        }));
      } catch (e) {
        const reason =
          e instanceof joseErrors.JWKSNoMatchingKey ? 'kid not found in the client\'s keys'
          : e instanceof joseErrors.JWSSignatureVerificationFailed ? 'signature does not verify'
          : e instanceof joseErrors.JWTExpired ? 'token expired'
          : e instanceof joseErrors.JWTClaimValidationFailed ? `claim ${e.claim} invalid (${e.reason})`
          : `token rejected (${(e as Error).name})`;
        return { ok: false, reason, iss: client.iss };
      }
      const nowSec = now() / 1000;
      if (typeof claims.iat !== 'number' || claims.iat > nowSec + opts.clockSkewSec) return { ok: false, reason: 'iat is in the future', iss: client.iss };
      if (client.tenants && !(typeof claims['tenant'] === 'string' && client.tenants.includes(claims['tenant']))) {
        return { ok: false, reason: 'tenant is not allowed', iss: client.iss };
      }
      if (!client.allowJtiReuse && replays.seenBefore(`${client.iss}|${String(claims.jti)}`, (claims.exp ?? nowSec) * 1000, now())) {
        return { ok: false, reason: 'jti replayed', iss: client.iss };
      }
      return { ok: true, client, claims };
    },
  };
}
