/** What the order-sign pipeline needs to know of its deployment; server/ builds it from its configuration. */

export type PrefetchMode = 'minimal' | 'full';

export interface PipelineSettings {
  /** Production never sends the access token to a plain-http fhirServer. */
  readonly production: boolean;
  /** The base URL clients reach the service at (policy links; the Questionnaire canonical is the policy's own). */
  readonly publicBaseUrl: string;
  /** Where card links point instead of the service's own policy page. */
  readonly policyUrl?: string | undefined;
  /** The plan's IANA time zone: orders are evaluated on that day. */
  readonly timeZone: string;
  readonly fhirTimeoutMs: number;
  readonly fhirMaxPages: number;
  readonly limits: {
    readonly draftOrders: number;
    /** Resources one call may bring in, prefetched and fetched together. */
    readonly resources: number;
    readonly fhirResponseBytes: number;
    /** Bytes of FHIR answers one call may read, all queries and pages together. */
    readonly fhirTotalBytes: number;
  };
}
