/**
 * The persistence port of the order-sign pipeline. cds-hooks declares what it needs kept; server/ wires the
 * store into it (cds-hooks never imports the store). Errors are values: `unavailable` means nothing was written.
 */

/** A coverage assertion as the pipeline hands it over. */
export interface AssertionRecord {
  readonly id: string;
  readonly serviceId: string;
  readonly hookInstance: string;
  readonly orderRef: string;
  readonly orderCode: string | null;
  readonly coverageRef: string;
  readonly patientRef: string | null;
  readonly decision: string;
  /** The coverage-information extension exactly as sent. */
  readonly coverageInformation: unknown;
  /** The evaluation trace with its evidence (the decision as the rules returned it). */
  readonly trace: unknown;
  readonly policyVersion: string | null;
  readonly questionnaireCanonical: string | null;
  readonly questionnaireVersion: string | null;
  /** The draft order as received. */
  readonly orderSnapshot: unknown;
}

/** An assertion the store already holds, as far as the "nothing new" check needs it. */
export interface PriorAssertion {
  readonly id: string;
  readonly serviceId: string;
  readonly orderRef: string;
  readonly coverageRef: string;
  readonly coverageInformation: unknown;
}

export interface CardLink {
  readonly cardUuid: string;
  readonly assertionId: string;
}

/** What one answered call leaves behind; the adapter adds the audit record (client, request metadata, timing). */
export interface CallRecord {
  readonly serviceId: string;
  readonly hookInstance: string;
  readonly assertions: readonly AssertionRecord[];
  /** Cards linked to an assertion, new or kept (feedback on a card finds its assertion). */
  readonly cardLinks: readonly CardLink[];
  /** The answer as it will be sent. */
  readonly response: unknown;
}

export type Persisted = { ok: true } | { ok: false; reason: 'unavailable' };

export interface PersistPort {
  /** The assertion with this id, if the store knows it; `unavailable` when the store cannot answer. */
  priorAssertion(
    id: string,
  ): Promise<{ ok: true; value: PriorAssertion | undefined } | { ok: false; reason: 'unavailable' }>;
  /** Commits the call's assertions, card links and audit record in one transaction; resolves once committed. */
  recordCall(record: CallRecord): Promise<Persisted>;
}
