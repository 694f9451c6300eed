/** Small helpers over FHIR Bundles and resources as they arrive on the wire (not trusted to be valid R4). */

/** A JSON object as it arrives on the wire, before anything about it is known. */
export type Rec = Record<string, unknown>;

export function isObject(value: unknown): value is Rec {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isResource(value: unknown): value is fhir4.Resource {
  return isObject(value) && typeof value['resourceType'] === 'string';
}

export function isOperationOutcome(value: unknown): value is fhir4.OperationOutcome {
  return isResource(value) && value.resourceType === 'OperationOutcome';
}

export function isBundle(value: unknown): value is fhir4.Bundle {
  return isResource(value) && value.resourceType === 'Bundle';
}

/** The resources a searchset carries (matches and includes), without OperationOutcome entries. */
export function bundleResources(bundle: fhir4.Bundle): fhir4.Resource[] {
  if (!Array.isArray(bundle.entry)) return [];
  return bundle.entry.flatMap((e) => {
    const r: unknown = isObject(e) ? e.resource : undefined;
    return isResource(r) && r.resourceType !== 'OperationOutcome' ? [r] : [];
  });
}

export function nextLink(bundle: fhir4.Bundle): string | undefined {
  if (!Array.isArray(bundle.link)) return undefined;
  const next = bundle.link.find((l) => isObject(l) && l.relation === 'next');
  return next && typeof next.url === 'string' && next.url.length > 0 ? next.url : undefined;
}

/** True when url lies under base: same scheme, host and port, and a path at or below base's path. */
export function isUnderBase(base: string, url: string): boolean {
  let b: URL;
  let u: URL;
  try {
    b = new URL(base);
    u = new URL(url, b.href.endsWith('/') ? b.href : `${b.href}/`);
  } catch {
    return false;
  }
  if (b.origin !== u.origin || u.username !== '' || u.password !== '') return false;
  // %2F and %5C are path separators to servers that decode them: they could climb out of the base path.
  if (/%2f|%5c/i.test(u.pathname)) return false;
  const basePath = b.pathname.replace(/\/+$/, '');
  return u.pathname === basePath || u.pathname.startsWith(`${basePath}/`);
}
