import { isObject } from '../fhir/bundle.js';
import { readCoding } from '../fhir/coding.js';
import { feedbackSchema, parseWith, type Feedback } from './schemas.js';
import type { Failure } from '../fhir/outcome.js';

/** CDS Hooks feedback (`POST {service}/feedback`): what clinicians did with the cards. */

export interface FeedbackSummary {
  readonly card: string;
  readonly outcome: 'accepted' | 'overridden';
  readonly acceptedSuggestions?: number;
  readonly overrideReason?: string;
}

/** The override reason code, whether sent as {reason: Coding} (2.0) or as a bare Coding (early clients). */
function overrideCode(reason: Record<string, unknown> | undefined): string | undefined {
  if (!reason) return undefined;
  return readCoding(isObject(reason['reason']) ? reason['reason'] : reason)?.code?.slice(0, 100);
}

/** Summaries safe to log: card ids, outcomes and reason codes; never the clinician's free-text comment. */
export function summarizeFeedback(feedback: Feedback): FeedbackSummary[] {
  return feedback.feedback.map((f) => {
    const code = overrideCode(f.overrideReason);
    return {
      card: f.card.slice(0, 100),
      outcome: f.outcome,
      ...(f.acceptedSuggestions ? { acceptedSuggestions: f.acceptedSuggestions.length } : {}),
      ...(code ? { overrideReason: code } : {}),
    };
  });
}

export function parseFeedback(body: unknown): { ok: true; value: FeedbackSummary[] } | { ok: false; failure: Failure } {
  const parsed = parseWith(feedbackSchema, body);
  return parsed.ok ? { ok: true, value: summarizeFeedback(parsed.value) } : parsed;
}
