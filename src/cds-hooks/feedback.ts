import { isObject } from '../fhir/bundle.js';
import { readCoding, type Coding } from '../fhir/coding.js';
import { feedbackSchema, parseWith, type Feedback } from './schemas.js';
import type { Failure } from '../fhir/outcome.js';

/** CDS Hooks feedback (`POST {service}/feedback`): what clinicians did with the cards. */

export interface FeedbackSummary {
  readonly card: string;
  readonly outcome: 'accepted' | 'overridden';
  readonly acceptedSuggestions?: number;
  readonly overrideReason?: string;
}

/** What is kept of one feedback entry (the clinician's comment included: it is stored, never logged). */
export interface FeedbackEntry {
  readonly card: string;
  readonly outcome: 'accepted' | 'overridden';
  readonly outcomeTimestamp: string;
  readonly overrideReason?: Coding;
  readonly userComment?: string;
  readonly acceptedSuggestions: readonly string[];
}

/** The override reason, whether sent as {reason: Coding} (2.0) or as a bare Coding (early clients). */
function overrideCoding(reason: Record<string, unknown> | undefined): Coding | undefined {
  if (!reason) return undefined;
  const coding = readCoding(isObject(reason['reason']) ? reason['reason'] : reason);
  return coding && (coding.code !== undefined || coding.system !== undefined || coding.display !== undefined)
    ? coding
    : undefined;
}

function overrideCode(reason: Record<string, unknown> | undefined): string | undefined {
  return overrideCoding(reason)?.code?.slice(0, 100);
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

function entries(feedback: Feedback): FeedbackEntry[] {
  return feedback.feedback.map((f) => {
    const reason = overrideCoding(f.overrideReason);
    const comment = f.overrideReason?.['userComment'];
    return {
      card: f.card,
      outcome: f.outcome,
      // Tolerant of clients that send something else than RFC 3339: the time it was received then.
      outcomeTimestamp: new Date(
        Number.isNaN(Date.parse(f.outcomeTimestamp)) ? Date.now() : Date.parse(f.outcomeTimestamp),
      ).toISOString(),
      ...(reason ? { overrideReason: reason } : {}),
      ...(typeof comment === 'string' && comment.length > 0 ? { userComment: comment.slice(0, 4000) } : {}),
      acceptedSuggestions: (f.acceptedSuggestions ?? []).map((s) => s.id),
    };
  });
}

export interface ParsedFeedback {
  /** Safe to log. */
  readonly summaries: FeedbackSummary[];
  /** To store. */
  readonly entries: FeedbackEntry[];
}

export function parseFeedback(body: unknown): { ok: true; value: ParsedFeedback } | { ok: false; failure: Failure } {
  const parsed = parseWith(feedbackSchema, body);
  if (!parsed.ok) return parsed;
  return { ok: true, value: { summaries: summarizeFeedback(parsed.value), entries: entries(parsed.value) } };
}
