export { Store, type StoreOptions } from './store.js';
export {
  storeConfigFromEnv,
  DEFAULT_RETENTION,
  SQLITE_FILE_NAME,
  type StoreConfig,
  type RetentionDays,
} from './config.js';
export { StoreUnavailableError, isStoreUnavailable } from './errors.js';
export { AuditQueue, JtiMemory, ResilientStore, type ResilienceOptions, type JtiResult } from './resilience.js';
export { redactSecrets } from './records.js';
export type {
  AssertionInput,
  AuditInput,
  AuditKind,
  Decision,
  FeedbackCaller,
  FeedbackInput,
  FeedbackOutcome,
  JtiClaim,
  OverrideReasonInput,
  PurgeCounts,
  RecordCallInput,
  RecordCallResult,
  RecordFeedbackResult,
  StoredAssertion,
  StoredAudit,
  StoredFeedback,
} from './records.js';
export type { Engine } from './schema.js';
