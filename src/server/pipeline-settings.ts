import type { PipelineSettings } from '../cds-hooks/settings.js';
import type { Config } from './config.js';

/** The part of the configuration the order-sign pipeline reads. */
export function pipelineSettings(config: Config): PipelineSettings {
  const { limits } = config;
  return {
    production: config.production,
    publicBaseUrl: config.publicBaseUrl,
    policyUrl: config.policyUrl,
    timeZone: config.timeZone,
    fhirTimeoutMs: config.fhirTimeoutMs,
    fhirMaxPages: config.fhirMaxPages,
    limits: {
      draftOrders: limits.draftOrders,
      resources: limits.resources,
      fhirResponseBytes: limits.fhirResponseBytes,
      fhirTotalBytes: limits.fhirTotalBytes,
    },
  };
}
