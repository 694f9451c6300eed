/** What callers hand the store and get back; camelCase, JSON as values. */

export type Decision = 'covered' | 'documentation-needed' | 'not-medically-necessary' | 'investigative' | 'no-coverage';

export interface AssertionInput {
  /** The coverage-assertion-id sent to the client. */
  id: string;
  serviceId: string;
  hookInstance: string;
  /** e.g. "ServiceRequest/abc" as the draft order names itself. */
  orderRef: string;
  orderCode: string | null;
  /** e.g. "Coverage/xyz". */
  coverageRef: string;
  patientRef: string | null;
  /** A Decision when this service wrote it; typed string since stored rows are read back as text. */
  decision: string;
  /** The coverage-information extension exactly as sent. */
  coverageInformation: unknown;
  /** The evaluation trace with its evidence. */
  trace: unknown;
  policyVersion: string | null;
  questionnaireCanonical: string | null;
  questionnaireVersion: string | null;
  /** The draft order as received. */
  orderSnapshot: unknown;
  /**
   * `iss` of the CDS client the assertion was issued to (the call's audit `clientIss`): feedback on its cards is
   * linked only when it comes from that client. Null with authentication off, and on rows stored before it was kept.
   */
  clientIss: string | null;
  /** Uuids of the cards that speak for this assertion, so feedback on a card finds it. */
  cardUuids?: string[];
}

export interface StoredAssertion extends Omit<AssertionInput, 'cardUuids'> {
  createdAt: string;
}

export type AuditKind =
  'hook-call' | 'discovery' | 'feedback' | 'admin-lookup' | 'admin-login-refused' | 'questionnaire-package' | 'other';

export interface AuditInput {
  id?: string;
  kind: AuditKind;
  /** `iss` of the client JWT (never the JWT itself). */
  clientIss: string | null;
  serviceId: string | null;
  hookInstance: string | null;
  /** Request metadata; secrets (authorization, tokens, JWTs) are removed before writing. */
  requestMeta: Record<string, unknown>;
  response: unknown;
  status: number;
  durationMs: number;
  /** The named consumer for admin lookups. */
  consumer?: string | null;
  /** Defaults to the store's clock at write time; queued records keep the time of the call. */
  createdAt?: string;
}

export interface StoredAudit extends Required<Omit<AuditInput, 'consumer'>> {
  consumer: string | null;
}

export interface JtiClaim {
  iss: string;
  jti: string;
  expiresAt: Date | string;
}

export type FeedbackOutcome = 'accepted' | 'overridden';

export interface OverrideReasonInput {
  system?: string | null;
  code?: string | null;
  display?: string | null;
}

export interface FeedbackInput {
  serviceId: string;
  /** card.uuid as echoed by the client. */
  card: string;
  outcome: FeedbackOutcome;
  outcomeTimestamp: string;
  overrideReason?: OverrideReasonInput | null;
  userComment?: string | null;
  acceptedSuggestions?: string[];
  /** When known; otherwise looked up through the card. Linked only when the assertion is the caller's (see recordFeedback). */
  assertionId?: string | null;
}

/** Who sent a feedback call: `iss` of its client JWT, null with authentication off. */
export interface FeedbackCaller {
  clientIss: string | null;
}

export interface RecordFeedbackResult {
  entries: StoredFeedback[];
  /** Entries that named a card (or assertion) issued to another client: stored unlinked, counted here. */
  otherClientEntries: number;
}

export interface StoredFeedback {
  id: string;
  createdAt: string;
  serviceId: string;
  card: string;
  assertionId: string | null;
  outcome: FeedbackOutcome;
  outcomeTimestamp: string;
  overrideReason: OverrideReasonInput | null;
  userComment: string | null;
  acceptedSuggestions: string[];
}

export interface RecordCallInput {
  assertions: AssertionInput[];
  /** Cards linked to assertions written earlier (a re-sign whose decision is unchanged keeps its assertion). */
  cardLinks?: { cardUuid: string; assertionId: string }[];
  audit: AuditInput;
  jti?: JtiClaim;
}

export type RecordCallResult =
  { status: 'committed'; auditId: string } | { status: 'replay' } | { status: 'unavailable'; code: string };

export interface PurgeCounts {
  assertions: number;
  cardLinks: number;
  audit: number;
  feedback: number;
  jti: number;
}

const SECRET_KEY = /authori[sz]ation|token|jwt|secret|password|cookie|^bearer$/i;

/** Drops every property whose name says it holds a credential, at any depth. */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (!SECRET_KEY.test(key)) out[key] = redactSecrets(inner);
  }
  return out;
}
