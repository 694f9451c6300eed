import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { TrustedClient } from './trusted-clients.js';

/**
 * CDS Hooks 2.0 "Trusting CDS Clients" with the best practices: a signed JWT on every call, asymmetric algorithms
 * only, a trusted `iss`, a `kid` found in that client's keys (from an allowlisted `jku` only), `aud` = the URL
 * called, `exp`, `iat` not in the future, `jti` not replayed within the token's life, `tenant` when configured.
 * A failure carries a short reason for the log and a description for the client (RFC 6750 error_description) that
 * names the failed check and never quotes the token.
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

export type JtiCheck = (claim: {
  iss: string;
  jti: string;
  expiresAt: Date;
}) => Promise<'accepted' | 'replay' | 'busy'>;

export interface AuthFailure {
  readonly ok: false;
  /** Short, for the log. */
  readonly reason: string;
  /** For the client: which check failed and what was expected; printable ASCII without `"` or `\\`. */
  readonly description: string;
  /** No credentials at all (RFC 6750: a challenge without `error`). */
  readonly missing?: boolean;
  readonly iss?: string;
  /** The replay cache is full of live entries; the caller should answer 503, not 401. */
  readonly busy?: boolean;
}

export type AuthResult = { ok: true; client: TrustedClient; claims: JWTPayload } | AuthFailure;

export interface Authenticator {
  /** `audience` lists the absolute URLs the client may have called (the first is the one named in refusals). */
  verify(authorization: string | undefined, audience: string | readonly string[]): Promise<AuthResult>;
}

/** A value from the token (kid, jku, iss) fit to quote: printable ASCII, no quotes or backslashes, at most 120 characters. */
export function quoted(value: unknown): string {
  const text = String(value).replace(/[^\x20-\x7e]|["\\]/g, '?');
  return `'${text.length > 120 ? `${text.slice(0, 117)}...` : text}'`;
}

const iso = (sec: number): string =>
  Number.isFinite(sec) ? new Date(sec * 1000).toISOString().replace('.000Z', 'Z') : String(sec);

function refused(reason: string, description: string, iss?: string): AuthFailure {
  return { ok: false, reason, description, ...(iss !== undefined ? { iss } : {}) };
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

function unverifiedParts(
  token: string,
): { header: ReturnType<typeof decodeProtectedHeader>; payload: JWTPayload } | undefined {
  try {
    return { header: decodeProtectedHeader(token), payload: decodeJwt(token) };
  } catch {
    return undefined;
  }
}

interface VerifyContext {
  readonly kid: string;
  readonly named: string;
  readonly audiences: readonly string[];
  readonly skew: number;
  readonly payload: JWTPayload;
}

/** jose's refusal as [log reason, client description]. */
function verifyFailure(e: unknown, c: VerifyContext): [string, string] {
  if (e instanceof joseErrors.JWKSNoMatchingKey)
    return ["kid not found in the client's keys", `kid ${quoted(c.kid)} is not among the keys of client ${c.named}`];
  if (e instanceof joseErrors.JWSSignatureVerificationFailed)
    return ['signature does not verify', `signature does not verify with key ${quoted(c.kid)} of client ${c.named}`];
  if (e instanceof joseErrors.JWTExpired) {
    return [
      'token expired',
      `token expired: exp ${iso(Number(c.payload.exp))} is past (clock skew ${c.skew} s); sign a fresh token`,
    ];
  }
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    const reason = `claim ${e.claim} invalid (${e.reason})`;
    if (e.claim === 'aud' && e.reason !== 'missing')
      return [reason, `aud does not match: expected ${c.audiences.map(quoted).join(' or ')} (the URL called)`];
    if (e.reason === 'missing') return [reason, `claim ${e.claim} is missing (required: iss, aud, exp, iat, jti)`];
    return [reason, `claim ${e.claim} is invalid (${e.reason})`];
  }
  if (e instanceof joseErrors.JWKSTimeout || e instanceof joseErrors.JWKSInvalid) {
    return [`keys unavailable (${(e as Error).name})`, `the keys of client ${c.named} could not be fetched or read`];
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed)
    return [`token rejected (${(e as Error).name})`, 'the algorithm does not match the key'];
  return [
    `token rejected (${(e as Error).name})`,
    `the token could not be verified with the keys of client ${c.named}`,
  ];
}

export function authenticator(opts: AuthOptions): Authenticator {
  const byIssuer = new Map(opts.clients.map((c) => [c.iss, c]));
  const replays = replayCache();
  const now = opts.now ?? Date.now;
  const processCheck: JtiCheck = ({ iss, jti, expiresAt }) => {
    const seen = replays.check(`${iss}|${jti}`, expiresAt.getTime(), now());
    return Promise.resolve(seen === 'fresh' ? 'accepted' : seen === 'replayed' ? 'replay' : 'busy');
  };
  const claimJti = opts.claimJti ?? processCheck;
  return {
    async verify(authorization, audience) {
      const expected = [audience].flat();
      const m = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)\s*$/i.exec(authorization ?? '');
      if (!authorization)
        return {
          ...refused('no Authorization header', 'no Authorization header: send Authorization: Bearer <client JWT>'),
          missing: true,
        };
      if (!m?.[1])
        return refused(
          'Authorization is not a Bearer JWT',
          'the Authorization header is not Bearer followed by a signed JWT (three base64url parts)',
        );
      const token = m[1];
      const parts = unverifiedParts(token);
      if (!parts)
        return refused(
          'the token does not decode',
          'the token does not decode as a JWT (header and payload must be base64url JSON)',
        );
      const { header, payload } = parts;
      if (!header.alg || !(ALGORITHMS as readonly string[]).includes(header.alg)) {
        return refused(
          `algorithm ${String(header.alg)} is not accepted`,
          `alg ${quoted(header.alg)} is not allowed; accepted: ${ALGORITHMS.join(', ')}`,
        );
      }
      if (!header.kid) return refused('no kid in the header', 'no kid in the JWT header: name the signing key');
      if (header.crit !== undefined) return refused('crit headers are not supported', 'crit headers are not supported');
      const iss = typeof payload.iss === 'string' ? payload.iss : undefined;
      const client = iss ? byIssuer.get(iss) : undefined;
      if (!client) {
        return refused(
          'issuer is not a trusted client',
          iss === undefined
            ? 'no iss claim: the token must name its issuer'
            : `iss ${quoted(iss)} is not a trusted client of this service`,
        );
      }
      const named = quoted(client.iss);
      if (header.jku !== undefined && !client.allowedJku.includes(header.jku)) {
        const listed = client.allowedJku.length > 0 ? client.allowedJku.map(quoted).join(', ') : 'none';
        return refused(
          "jku is not on the client's allowlist",
          `jku ${quoted(header.jku)} is not listed for client ${named} (listed: ${listed})`,
          client.iss,
        );
      }
      const audiences = client.audience === undefined ? expected : [...expected, ...[client.audience].flat()];
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
        return refused(
          ...verifyFailure(e, { kid: header.kid, named, audiences, skew: opts.clockSkewSec, payload }),
          client.iss,
        );
      }
      const nowSec = now() / 1000;
      if (typeof claims.iat !== 'number' || claims.iat > nowSec + opts.clockSkewSec) {
        return refused(
          'iat is in the future',
          `iat ${iso(Number(claims.iat))} is in the future (beyond the ${opts.clockSkewSec} s clock skew)`,
          client.iss,
        );
      }
      if (typeof claims.exp !== 'number' || claims.exp - claims.iat > client.maxTokenLifetimeSec) {
        const reason = `token lives longer than ${client.maxTokenLifetimeSec} s`;
        return refused(
          reason,
          `the token lives ${Number(claims.exp) - claims.iat} s (exp - iat); client ${named} allows at most ${client.maxTokenLifetimeSec} s`,
          client.iss,
        );
      }
      if (typeof claims.jti !== 'string' || claims.jti.length === 0 || claims.jti.length > 256) {
        return refused(
          'jti must be a string of at most 256 characters',
          'jti must be a non-empty string of at most 256 characters',
          client.iss,
        );
      }
      if (client.tenants && !(typeof claims['tenant'] === 'string' && client.tenants.includes(claims['tenant']))) {
        return refused(
          'tenant is not allowed',
          `tenant ${claims['tenant'] === undefined ? 'missing' : quoted(claims['tenant'])} is not allowed for client ${named}`,
          client.iss,
        );
      }
      if (!client.allowJtiReuse) {
        // Remembered while the token is still accepted: its exp plus the clock skew allowed.
        const expiresAt = new Date((claims.exp + opts.clockSkewSec) * 1000);
        const seen = await claimJti({ iss: client.iss, jti: claims.jti, expiresAt });
        if (seen === 'replay')
          return refused(
            'jti replayed',
            'jti replayed: this token was already used; sign a fresh jti for every call',
            client.iss,
          );
        if (seen === 'busy') return { ...refused('replay cache full', 'busy; retry shortly', client.iss), busy: true };
      }
      return { ok: true, client, claims };
    },
  };
}
