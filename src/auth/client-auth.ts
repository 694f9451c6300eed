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
  /**
   * The deployment-wide replay check (server/ wires the store's, with the instance's memory as fallback while
   * the store is down): `accepted` the first time an (iss, jti) is seen before it expires. Default: this process.
   */
  readonly claimJti?: JtiCheck;
}

export type JtiCheck = (claim: { iss: string; jti: string; expiresAt: Date }) => Promise<'accepted' | 'replay' | 'busy'>;

export type AuthResult =
  | { ok: true; client: TrustedClient; claims: JWTPayload }
  /** `busy`: the replay cache is full of live entries; the caller should answer 503, not 401. */
  | { ok: false; reason: string; iss?: string; busy?: boolean };

export interface Authenticator {
  /** `audience` is the absolute URL the client called. */
  verify(authorization: string | undefined, audience: string): Promise<AuthResult>;
}

/**
 * Seen jti per issuer until the token expires. Live entries are never dropped (that would reopen them to replay);
 * when the cache is full of them, the caller is told to back off.
 */
function replayCache(limit = 200_000) {
  const seen = new Map<string, number>();
  let nextSweep = 0;
  return {
    check(key: string, expiresAtMs: number, nowMs: number): 'fresh' | 'replayed' | 'full' {
      if (seen.size >= limit || nowMs >= nextSweep) {
        for (const [k, exp] of seen) if (exp <= nowMs) seen.delete(k);
        nextSweep = nowMs + 10_000;
      }
      const previous = seen.get(key);
      if (previous !== undefined && previous > nowMs) return 'replayed';
      if (seen.size >= limit) return 'full';
      seen.set(key, expiresAtMs);
      return 'fresh';
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
  const processCheck: JtiCheck = async ({ iss, jti, expiresAt }) => {
    const seen = replays.check(`${iss}|${jti}`, expiresAt.getTime(), now());
    return seen === 'fresh' ? 'accepted' : seen === 'replayed' ? 'replay' : 'busy';
  };
  const claimJti = opts.claimJti ?? processCheck;
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
      if (header.crit !== undefined) return { ok: false, reason: 'crit headers are not supported' };
      const iss = typeof payload.iss === 'string' ? payload.iss : undefined;
      const client = iss ? byIssuer.get(iss) : undefined;
      if (!client) return { ok: false, reason: 'issuer is not a trusted client' };
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
      if (typeof claims.exp !== 'number' || claims.exp - claims.iat > client.maxTokenLifetimeSec) {
        return { ok: false, reason: `token lives longer than ${client.maxTokenLifetimeSec} s`, iss: client.iss };
      }
      if (typeof claims.jti !== 'string' || claims.jti.length === 0 || claims.jti.length > 256) {
        return { ok: false, reason: 'jti must be a string of at most 256 characters', iss: client.iss };
      }
      if (client.tenants && !(typeof claims['tenant'] === 'string' && client.tenants.includes(claims['tenant']))) {
        return { ok: false, reason: 'tenant is not allowed', iss: client.iss };
      }
      if (!client.allowJtiReuse) {
        // Remembered while the token is still accepted: its exp plus the clock skew allowed.
        const expiresAt = new Date((claims.exp + opts.clockSkewSec) * 1000);
        const seen = await claimJti({ iss: client.iss, jti: claims.jti, expiresAt });
        if (seen === 'replay') return { ok: false, reason: 'jti replayed', iss: client.iss };
        if (seen === 'busy') return { ok: false, reason: 'replay cache full', iss: client.iss, busy: true };
      }
      return { ok: true, client, claims };
    },
  };
}
