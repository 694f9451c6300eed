import { randomUUID } from 'node:crypto';
import {
  decodeProtectedHeader,
  errors as joseErrors,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type CryptoKey,
  type JWTPayload,
  type KeyObject,
} from 'jose';
import type { TrustedClient } from './trusted-clients.js';

/**
 * SMART Backend Services (SMART App Launch 2.x, "client-confidential-asymmetric"): `POST /auth/token` with
 * grant_type=client_credentials and a private_key_jwt client assertion (iss = sub = client_id = an `iss` of the
 * trusted clients file, signed by one of that client's keys, aud = the token endpoint URL, exp at most 5 minutes
 * ahead, a jti never seen before), answered with a short-lived access token.
 *
 * The access token is a JWT signed by the service's own key (ES256), not an opaque token in a map: verifying it
 * needs no shared state, so every instance behind the load balancer accepts a token another issued once they
 * share the key (`signingKey`); with the default ephemeral key generated at start, tokens die with the process,
 * which their 5-minute life makes harmless. Errors follow RFC 6749 §5.2 (token endpoint) and RFC 6750 §3
 * (resource server). Nothing here logs; failures carry a reason for the caller's log, never the token.
 */

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** SMART requires RS384 and ES384 support; the other asymmetric algorithms of the CDS client check too. */
export const ASSERTION_ALGORITHMS = [
  'RS384',
  'ES384',
  'RS256',
  'ES256',
  'ES512',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
] as const;
export const MAX_ASSERTION_LIFETIME_SEC = 300;
export const ACCESS_TOKEN_LIFETIME_SEC = 300;
/** SMART v2 and v1 spellings of reading Questionnaires, which is what $questionnaire-package does. */
export const PACKAGE_SCOPES = ['system/Questionnaire.rs', 'system/Questionnaire.read'] as const;

export interface SigningKey {
  readonly privateKey: CryptoKey | KeyObject;
  readonly publicKey: CryptoKey | KeyObject;
  readonly kid: string;
  readonly alg: 'ES256';
}

export async function ephemeralSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { privateKey, publicKey, kid: `ephemeral-${randomUUID()}`, alg: 'ES256' };
}

/** A shared signing key from a private JWK (e.g. a secret mounted into every instance). */
export async function signingKeyFromJwk(jwk: Record<string, unknown>): Promise<SigningKey> {
  const { d: _private, ...pub } = jwk;
  const privateKey = await importJWK(jwk as Parameters<typeof importJWK>[0], 'ES256');
  const publicKey = await importJWK(pub as Parameters<typeof importJWK>[0], 'ES256');
  if (privateKey instanceof Uint8Array || publicKey instanceof Uint8Array || typeof _private !== 'string') {
    throw new Error('the access-token key must be an EC P-256 private JWK');
  }
  return { privateKey, publicKey, kid: typeof jwk['kid'] === 'string' ? jwk['kid'] : 'access-token-key', alg: 'ES256' };
}

export interface TokenServiceOptions {
  readonly clients: readonly TrustedClient[];
  /** The absolute URL of POST /auth/token as clients call it: the assertion's required `aud`. */
  readonly tokenEndpoint: string;
  /** The FHIR base the tokens are for (`aud` of the access token), e.g. https://crd.example.org/fhir */
  readonly fhirBase: string;
  readonly signingKey: SigningKey;
  readonly scopesSupported?: readonly string[];
  readonly clockSkewSec?: number;
  readonly now?: () => number;
  /**
   * Records a jti until it expires; 'replay' when already seen. Defaults to a per-process map; pass the store's
   * claimJti (ResilientStore) to refuse a replay across instances.
   */
  readonly claimJti?: (claim: { iss: string; jti: string; expiresAt: Date }) => Promise<'accepted' | 'replay' | 'busy'>;
}

export type OAuthError =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'temporarily_unavailable';

export type TokenResult =
  | {
      ok: true;
      status: 200;
      body: { access_token: string; token_type: 'bearer'; expires_in: number; scope: string };
      clientId: string;
    }
  | { ok: false; status: 400 | 401 | 503; body: { error: OAuthError; error_description: string }; clientId?: string };

/** Headers every token endpoint answer carries (RFC 6749 §5.1). */
export const TOKEN_RESPONSE_HEADERS = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

function memoryJti(now: () => number) {
  const seen = new Map<string, number>();
  return (claim: { iss: string; jti: string; expiresAt: Date }): Promise<'accepted' | 'replay'> => {
    const t = now();
    for (const [k, exp] of seen) if (exp <= t) seen.delete(k);
    const key = `${claim.iss}|${claim.jti}`;
    if (seen.has(key)) return Promise.resolve('replay');
    seen.set(key, claim.expiresAt.getTime());
    return Promise.resolve('accepted');
  };
}

const oauthError = (
  status: 400 | 401 | 503,
  error: OAuthError,
  error_description: string,
  clientId?: string,
): TokenResult => ({
  ok: false,
  status,
  body: { error, error_description },
  ...(clientId ? { clientId } : {}),
});

function field(form: Record<string, unknown>, name: string): string | undefined {
  const v = form[name];
  return typeof v === 'string' ? v : undefined;
}

export interface TokenService {
  /**
   * `form` is the parsed application/x-www-form-urlencoded body; `audiences` the token endpoint URLs the
   * assertion's `aud` may name (default: the configured `tokenEndpoint`; in development also the URL called).
   */
  token(form: Record<string, unknown>, audiences?: readonly string[]): Promise<TokenResult>;
  verifyAccessToken(authorization: string | undefined, requiredScopes?: readonly string[]): Promise<AccessResult>;
  readonly scopesSupported: readonly string[];
}

export type AccessResult =
  | { ok: true; clientId: string; scopes: readonly string[] }
  | {
      ok: false;
      status: 401 | 403;
      /** The WWW-Authenticate header value (RFC 6750 §3). */
      wwwAuthenticate: string;
      /** For the OperationOutcome and the log; names no token. */
      reason: string;
    };

const REALM = 'dtr';

function bearerChallenge(
  error: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | undefined,
  description: string,
  scope?: string,
): string {
  const quote = (s: string) => s.replace(/["\\]/g, '');
  if (!error) return `Bearer realm="${REALM}"`;
  return `Bearer realm="${REALM}", error="${error}", error_description="${quote(description)}"${scope ? `, scope="${quote(scope)}"` : ''}`;
}

export function tokenService(opts: TokenServiceOptions): TokenService {
  const now = opts.now ?? Date.now;
  const skew = opts.clockSkewSec ?? 30;
  const byId = new Map(opts.clients.map((c) => [c.iss, c]));
  const scopesSupported = opts.scopesSupported ?? [...PACKAGE_SCOPES];
  const claimJti = opts.claimJti ?? memoryJti(now);
  const issuer = opts.tokenEndpoint;

  async function token(
    form: Record<string, unknown>,
    audiences: readonly string[] = [opts.tokenEndpoint],
  ): Promise<TokenResult> {
    const grantType = field(form, 'grant_type');
    if (!grantType)
      return oauthError(400, 'invalid_request', 'grant_type is required: send grant_type=client_credentials');
    if (grantType !== 'client_credentials')
      return oauthError(
        400,
        'unsupported_grant_type',
        'only grant_type=client_credentials is supported (SMART Backend Services)',
      );
    if (field(form, 'client_assertion_type') !== CLIENT_ASSERTION_TYPE) {
      return oauthError(400, 'invalid_request', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
    }
    const assertion = field(form, 'client_assertion');
    if (!assertion)
      return oauthError(
        400,
        'invalid_request',
        'client_assertion is required: a JWT signed with your registered private key',
      );
    const scopeText = field(form, 'scope');
    if (!scopeText || scopeText.trim() === '')
      return oauthError(400, 'invalid_scope', `scope is required; supported: ${scopesSupported.join(' ')}`);

    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(assertion);
    } catch {
      return oauthError(401, 'invalid_client', 'client_assertion is not a JWS');
    }
    if (!header.alg || !(ASSERTION_ALGORITHMS as readonly string[]).includes(header.alg)) {
      return oauthError(
        401,
        'invalid_client',
        `client_assertion algorithm ${String(header.alg)} is not accepted; use ${ASSERTION_ALGORITHMS.join(', ')}`,
      );
    }
    if (!header.kid) return oauthError(401, 'invalid_client', 'client_assertion needs a kid header naming your key');
    let unverifiedIss: unknown;
    try {
      const payload = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8')) as unknown;
      unverifiedIss = typeof payload === 'object' && payload !== null ? (payload as { iss?: unknown }).iss : undefined;
    } catch {
      return oauthError(401, 'invalid_client', 'client_assertion payload does not decode');
    }
    const client = typeof unverifiedIss === 'string' ? byId.get(unverifiedIss) : undefined;
    if (!client) return oauthError(401, 'invalid_client', 'the client_assertion iss is not a registered client');
    if (header.jku !== undefined && !client.allowedJku.includes(header.jku)) {
      return oauthError(
        401,
        'invalid_client',
        'the jku header is not a key set registered for this client',
        client.iss,
      );
    }
    const formClientId = field(form, 'client_id');
    if (formClientId !== undefined && formClientId !== client.iss)
      return oauthError(401, 'invalid_client', 'client_id differs from the assertion iss', client.iss);

    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(assertion, client.keys, {
        issuer: client.iss,
        subject: client.iss,
        audience: [...audiences],
        algorithms: [...ASSERTION_ALGORITHMS],
        clockTolerance: skew,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti'],
        currentDate: new Date(now()),
      }));
    } catch (e) {
      const description =
        e instanceof joseErrors.JWKSNoMatchingKey
          ? 'no registered key of this client has that kid'
          : e instanceof joseErrors.JWSSignatureVerificationFailed
            ? 'the client_assertion signature does not verify'
            : e instanceof joseErrors.JWTExpired
              ? 'the client_assertion has expired'
              : e instanceof joseErrors.JWTClaimValidationFailed
                ? e.claim === 'aud'
                  ? `the client_assertion aud must be the token endpoint URL ${audiences.join(' or ')}`
                  : e.claim === 'sub'
                    ? 'the client_assertion sub must equal iss (the client_id)'
                    : `client_assertion claim ${e.claim} is invalid (${e.reason})`
                : 'the client_assertion was rejected';
      return oauthError(401, 'invalid_client', description, client.iss);
    }
    const nowSec = now() / 1000;
    if (typeof claims.exp !== 'number' || claims.exp > nowSec + MAX_ASSERTION_LIFETIME_SEC + skew) {
      return oauthError(
        401,
        'invalid_client',
        `the client_assertion exp must be at most ${MAX_ASSERTION_LIFETIME_SEC} seconds ahead`,
        client.iss,
      );
    }
    if (typeof claims.jti !== 'string' || claims.jti.length === 0 || claims.jti.length > 256) {
      return oauthError(
        401,
        'invalid_client',
        'the client_assertion jti must be a string of at most 256 characters',
        client.iss,
      );
    }
    // Remembered while the assertion is still accepted: its exp plus the clock skew allowed.
    const claimed = await claimJti({
      iss: client.iss,
      jti: claims.jti,
      expiresAt: new Date((claims.exp + skew) * 1000),
    });
    if (claimed === 'replay') {
      return oauthError(
        400,
        'invalid_grant',
        'this client_assertion jti was already used: sign a new assertion for every token request',
        client.iss,
      );
    }
    if (claimed === 'busy')
      return oauthError(503, 'temporarily_unavailable', 'the replay check is unavailable; retry shortly', client.iss);

    const requested = [...new Set(scopeText.trim().split(/\s+/))];
    const unsupported = requested.filter((s) => !scopesSupported.includes(s));
    if (unsupported.length > 0)
      return oauthError(
        400,
        'invalid_scope',
        `unsupported scope ${unsupported.join(' ')}; supported: ${scopesSupported.join(' ')}`,
        client.iss,
      );

    const scope = requested.join(' ');
    const iat = Math.floor(nowSec);
    const accessToken = await new SignJWT({ scope, client_id: client.iss })
      .setProtectedHeader({ alg: opts.signingKey.alg, kid: opts.signingKey.kid, typ: 'at+jwt' })
      .setIssuer(issuer)
      .setSubject(client.iss)
      .setAudience(opts.fhirBase)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ACCESS_TOKEN_LIFETIME_SEC)
      .setJti(randomUUID())
      .sign(opts.signingKey.privateKey);
    return {
      ok: true,
      status: 200,
      body: { access_token: accessToken, token_type: 'bearer', expires_in: ACCESS_TOKEN_LIFETIME_SEC, scope },
      clientId: client.iss,
    };
  }

  async function verifyAccessToken(
    authorization: string | undefined,
    requiredScopes: readonly string[] = PACKAGE_SCOPES,
  ): Promise<AccessResult> {
    const deny = (
      status: 401 | 403,
      error: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | undefined,
      reason: string,
    ): AccessResult => ({
      ok: false,
      status,
      wwwAuthenticate: bearerChallenge(
        error,
        reason,
        error === 'insufficient_scope' ? requiredScopes.join(' ') : undefined,
      ),
      reason,
    });
    if (!authorization)
      return deny(
        401,
        undefined,
        `no access token: get one from the token endpoint ${opts.tokenEndpoint} (SMART Backend Services)`,
      );
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m?.[1]) return deny(401, 'invalid_request', 'the Authorization header must be "Bearer <access token>"');
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(m[1], opts.signingKey.publicKey, {
        issuer,
        audience: opts.fhirBase,
        algorithms: [opts.signingKey.alg],
        typ: 'at+jwt',
        clockTolerance: skew,
        requiredClaims: ['exp', 'sub', 'scope'],
        currentDate: new Date(now()),
      }));
    } catch (e) {
      const reason =
        e instanceof joseErrors.JWTExpired
          ? 'the access token has expired'
          : 'the access token is not one this service issued';
      return deny(401, 'invalid_token', reason);
    }
    const scopes = typeof claims['scope'] === 'string' ? claims['scope'].split(' ') : [];
    const clientId = String(claims.sub);
    if (!byId.has(clientId))
      return deny(401, 'invalid_token', 'the client of this access token is no longer registered');
    if (requiredScopes.length > 0 && !scopes.some((s) => requiredScopes.includes(s)))
      return deny(403, 'insufficient_scope', `this request needs one of the scopes ${requiredScopes.join(' ')}`);
    return { ok: true, clientId, scopes };
  }

  return { token, verifyAccessToken, scopesSupported };
}

export interface SmartConfigurationInput {
  readonly tokenEndpoint: string;
  readonly scopesSupported: readonly string[];
}

/** GET /.well-known/smart-configuration for a Backend Services-only server. */
export function smartConfiguration(input: SmartConfigurationInput): Record<string, unknown> {
  return {
    token_endpoint: input.tokenEndpoint,
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
    grant_types_supported: ['client_credentials'],
    scopes_supported: [...input.scopesSupported],
    capabilities: ['client-confidential-asymmetric', 'permission-v2', 'permission-v1'],
    // SMART 2.x lists this as required even where no authorization endpoint exists; S256 only, never plain.
    code_challenge_methods_supported: ['S256'],
  };
}
