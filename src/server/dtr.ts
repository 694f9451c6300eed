import { readFileSync } from 'node:fs';
import type { Request, RequestHandler } from 'express';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type JsonWebKey } from 'node:crypto';
import { tokenService, type AccessResult, type SigningKey, type TokenService } from '../auth/backend-services.js';
import type { TrustedClient } from '../auth/trusted-clients.js';
import type { Registry } from '../cds-hooks/registry.js';
import { capabilityStatement } from '../dtr/capability-statement.js';
import { dtrRouter } from '../dtr/routes.js';
import { questionnaireCatalog, storeLookup } from '../dtr/wiring.js';
import { INDICATION_LINK_ID } from '../rules/attestation.js';
import { buildQuestionnaire } from '../rules/questionnaire.js';
import { requestBaseUrl } from './authentication.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { auditInput, recordAuditLater, requestAudit, storeJtiCheck } from './persistence.js';
import { logFields } from './request-log.js';
import { sendFailure } from './send.js';
import type { StoreHolder } from './store-holder.js';

/**
 * The DTR piece wired into the app: SMART Backend Services tokens for the trusted clients (their assertions'
 * jti claimed through the store, so a replay is refused by the whole deployment), the store as the package's
 * lookup, the policies' Questionnaires as its catalog, and the router.
 */

/** How long a package request waits for a store whose first open is still under way. */
const OPEN_WAIT_MS = 2000;

export const TOKEN_PATH = '/auth/token';

/** name and version of package.json (beside src/ and dist/), for the CapabilityStatement's software. */
function software(): { name: string; version: string } {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      name?: unknown;
      version?: unknown;
    };
    return {
      name: typeof pkg.name === 'string' ? pkg.name : 'crd-service',
      version: typeof pkg.version === 'string' ? pkg.version : 'unknown',
    };
  } catch {
    return { name: 'crd-service', version: 'unknown' };
  }
}

export const tokenEndpoint = (config: Pick<Config, 'publicBaseUrl'>): string => `${config.publicBaseUrl}${TOKEN_PATH}`;
export const fhirBase = (config: Pick<Config, 'publicBaseUrl'>): string => `${config.publicBaseUrl}/fhir`;

/**
 * The key that signs access tokens: CDS_TOKEN_SIGNING_JWK when set (shared by all instances), else an EC P-256
 * key made now (tokens die with the process). Synchronous (node:crypto), so an app can be built without waiting;
 * throws when the JWK is not a usable P-256 private key (the message never quotes it).
 */
export function accessTokenKey(config: Pick<Config, 'tokenSigningJwk'>): SigningKey {
  const jwk = config.tokenSigningJwk;
  if (!jwk) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return { privateKey, publicKey, kid: `ephemeral-${randomUUID()}`, alg: 'ES256' };
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey({ key: { ...jwk } as JsonWebKey, format: 'jwk' });
  } catch {
    throw new Error('not a usable EC P-256 private key');
  }
  const kid = typeof jwk['kid'] === 'string' ? jwk['kid'] : 'access-token-key';
  return { privateKey, publicKey: createPublicKey(privateKey), kid, alg: 'ES256' };
}

export interface BackendServicesInput {
  readonly config: Config;
  readonly clients: readonly TrustedClient[];
  readonly signingKey: SigningKey;
  readonly store: StoreHolder;
  readonly logger: Logger;
  readonly now?: () => Date;
}

/** The token service for the configuration once the port is bound (the token endpoint is under publicBaseUrl). */
export function backendServices(input: BackendServicesInput): TokenService {
  const { config, now } = input;
  return tokenService({
    clients: input.clients,
    tokenEndpoint: tokenEndpoint(config),
    fhirBase: fhirBase(config),
    signingKey: input.signingKey,
    clockSkewSec: config.clockSkewSec,
    claimJti: storeJtiCheck(input.store, input.logger),
    ...(now ? { now: () => now().getTime() } : {}),
  });
}

/** Without a token service (tests that do not need DTR): every token request and package call is refused. */
export function noBackendServices(endpoint: string): TokenService {
  const reason = 'no SMART Backend Services clients are configured on this instance';
  const refused: AccessResult = { ok: false, status: 401, wwwAuthenticate: 'Bearer realm="dtr"', reason };
  return {
    scopesSupported: [],
    token: () =>
      Promise.resolve({
        ok: false,
        status: 401,
        body: { error: 'invalid_client', error_description: `${reason} (${endpoint})` },
      }),
    verifyAccessToken: () => Promise.resolve(refused),
  };
}

export interface DtrRoutesInput {
  readonly config: Config;
  readonly registry: Registry;
  readonly store: StoreHolder;
  readonly tokens: TokenService;
  readonly logger: Logger;
  readonly now: () => Date;
}

/** The DTR router with the app's store, Questionnaires, failure sender and log fields. */
export function dtrRoutes({ config, registry, store, tokens, logger, now }: DtrRoutesInput): RequestHandler {
  const questionnaires = registry.services.map((s) => buildQuestionnaire(s.policy));
  const endpoint = tokenEndpoint(config);
  const router = dtrRouter({
    tokens,
    tokenEndpoint: endpoint,
    // Development without CDS_PUBLIC_BASE_URL: the URL the client called is an audience too, as for client JWTs.
    ...(config.audienceFromRequest
      ? { tokenAudiences: (req: Request) => [...new Set([`${requestBaseUrl(req)}${TOKEN_PATH}`, endpoint])] }
      : {}),
    capabilityStatement: capabilityStatement({
      fhirBase: fhirBase(config),
      tokenEndpoint: endpoint,
      software: software(),
      questionnaires: questionnaires.map((q) => `${q.url ?? ''}|${q.version ?? ''}`),
      date: now().toISOString().slice(0, 10),
    }),
    questionnaires: questionnaireCatalog(questionnaires),
    findEvaluation: storeLookup(async () => (await store.get(OPEN_WAIT_MS))?.store),
    indicationLinkId: INDICATION_LINK_ID,
    sendFailure,
    onPackage: (event, res) => {
      const client = event.clientId.slice(0, 200);
      Object.assign(logFields(res), { client, ...(event.assertionId ? { assertionId: event.assertionId } : {}) });
      // Who was handed which assertion's pre-filled answers: the audit trail keeps every package call.
      recordAuditLater(
        store,
        logger,
        auditInput(
          requestAudit(
            res.req,
            'questionnaire-package',
            client,
            (res.locals['dtrStartedAt'] as number | undefined) ?? performance.now(),
          ),
          event.status,
          event.assertionId ? { assertion: event.assertionId } : null,
        ),
      );
    },
    bodyLimit: config.bodyLimit,
    now,
  });
  return (req, res, next) => {
    res.locals['dtrStartedAt'] = performance.now();
    router(req, res, next);
  };
}
