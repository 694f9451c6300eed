import type { PrefetchMode } from './settings.js';
import type { Registry, HookService } from './registry.js';

/** The CDS Hooks 2.0 discovery document (`GET /cds-services`) with the CRD configuration options. */

export const CONFIGURATION_OPTIONS_EXTENSION = 'davinci-crd.configuration-options';

export interface DiscoveryEntry {
  hook: string;
  id: string;
  title: string;
  description: string;
  usageRequirements?: string;
  prefetch?: Record<string, string>;
  extension: Record<string, unknown>;
}

/**
 * `minimal` (CRD): only what every call needs is advertised; clinical data is queried when an order is in scope.
 * `full`: every data query is advertised, for EHRs that send this service only the orders it owns.
 */
export function prefetchTemplates(service: HookService, mode: PrefetchMode): Record<string, string> {
  return Object.fromEntries(
    service.queries.filter((q) => mode === 'full' || q.needed === 'always').map((q) => [q.key, q.template]),
  );
}

export function discoveryEntry(service: HookService, mode: PrefetchMode): DiscoveryEntry {
  const d = service.definition;
  const prefetch = prefetchTemplates(service, mode);
  return {
    hook: d.hook,
    id: d.id,
    title: d.title,
    description: d.description,
    ...(d.usageRequirements ? { usageRequirements: d.usageRequirements } : {}),
    ...(Object.keys(prefetch).length > 0 ? { prefetch } : {}),
    extension: { [CONFIGURATION_OPTIONS_EXTENSION]: d.configurationOptions },
  };
}

export function discoveryDocument(registry: Registry, mode: PrefetchMode): { services: DiscoveryEntry[] } {
  return { services: registry.services.map((s) => discoveryEntry(s, mode)) };
}
