import { isUnderBase } from '../fhir/bundle.js';

/**
 * Which FHIR servers a request may send the access token to (SSRF guard). Matched on the parsed origin and path,
 * never on a string prefix. Without a configured list: loopback only in development, nothing in production.
 */

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

export function fhirServerAllowed(
  fhirServer: string,
  configured: readonly string[] | undefined,
  clientServers: readonly string[],
  production: boolean,
): boolean {
  let url: URL;
  try {
    url = new URL(fhirServer);
  } catch {
    return false;
  }
  if ([...(configured ?? []), ...clientServers].some((base) => isUnderBase(base, url.href))) return true;
  return configured === undefined && !production && LOOPBACK.test(url.hostname);
}
