import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * The service logger. Callers log identifiers of the exchange (hookInstance, service id, decision, timings),
 * never resource contents, patient identifiers, access tokens or JWTs.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'crd-policy-service' },
    redact: {
      paths: ['req.headers.authorization', 'authorization', 'access_token', '*.access_token', 'token', 'jwt'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
