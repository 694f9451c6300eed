/**
 * The store's tables as Kysely sees them. Both engines hold the same columns; timestamps are ISO-8601 UTC
 * strings in TypeScript (PostgreSQL `timestamptz`, SQLite `TEXT` written by `Date.toISOString`, so text order
 * is time order) and JSON columns are JSON text (PostgreSQL `jsonb`, SQLite `TEXT`).
 */
export interface CoverageAssertionTable {
  id: string;
  created_at: string;
  service_id: string;
  /** Not unique: some clients (the CRD request generator) repeat it. */
  hook_instance: string;
  order_ref: string;
  order_code: string | null;
  coverage_ref: string;
  patient_ref: string | null;
  decision: string;
  coverage_information: string;
  trace: string;
  policy_version: string | null;
  questionnaire_canonical: string | null;
  questionnaire_version: string | null;
  order_snapshot: string;
  /** `iss` of the CDS client the assertion was issued to; null before migration 0002 and with authentication off. */
  client_iss: string | null;
}

export interface CardLinkTable {
  card_uuid: string;
  assertion_id: string;
  created_at: string;
}

export interface AuditRecordTable {
  id: string;
  created_at: string;
  kind: string;
  client_iss: string | null;
  service_id: string | null;
  hook_instance: string | null;
  request_meta: string;
  response: string | null;
  status: number;
  duration_ms: number;
  consumer: string | null;
}

export interface FeedbackTable {
  id: string;
  created_at: string;
  service_id: string;
  card_uuid: string;
  assertion_id: string | null;
  outcome: string;
  outcome_timestamp: string;
  override_reason_system: string | null;
  override_reason_code: string | null;
  override_reason_display: string | null;
  user_comment: string | null;
  accepted_suggestions: string;
}

export interface JtiReplayTable {
  iss: string;
  jti: string;
  expires_at: string;
}

export interface StoreDatabase {
  coverage_assertion: CoverageAssertionTable;
  card_link: CardLinkTable;
  audit_record: AuditRecordTable;
  feedback: FeedbackTable;
  jti_replay: JtiReplayTable;
}

export type Engine = 'sqlite' | 'postgres';
