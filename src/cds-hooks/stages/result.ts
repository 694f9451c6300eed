import type { Failure } from '../../fhir/outcome.js';

/** What a pipeline stage returns: its typed output, or the failure that ends the call (never thrown). */
export type StageResult<T> = { ok: true; value: T } | { ok: false; failure: Failure };
