import { z } from 'zod';
import { isObject } from '../fhir/bundle.js';
import { jsonPropertyName } from '../fhir/schemas.js';
import type { Card } from './hook-response.js';

/** The CRD `davinci-crd.configuration` request extension, honoured for the options a service declares. */

/** A CRD configuration option a service offers in discovery (`davinci-crd.configuration-options`). */
export const configurationOptionSchema = z
  .strictObject({
    code: z.string().regex(jsonPropertyName, 'must be a valid JSON property name'),
    type: z.enum(['boolean', 'integer']),
    name: z.string().min(1),
    description: z.string().min(1),
    default: z.union([z.boolean(), z.number().int().nonnegative()]),
  })
  .refine((o) => (o.type === 'boolean' ? typeof o.default === 'boolean' : typeof o.default === 'number'), {
    error: 'default must match type',
    path: ['default'],
  });

export type ConfigurationOption = z.infer<typeof configurationOptionSchema>;

export const CONFIGURATION_EXTENSION = 'davinci-crd.configuration';
export const MAX_CARDS = 'max-cards';

export interface CardPreferences {
  readonly disabledTopics: ReadonlySet<string>;
  readonly maxCards?: number;
}

function effective(option: ConfigurationOption, requested: Record<string, unknown>): boolean | number {
  const value = requested[option.code];
  if (option.type === 'boolean' && typeof value === 'boolean') return value;
  if (option.type === 'integer' && typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  return option.default;
}

/** Unknown codes and values of the wrong type are ignored; the option's default applies. */
export function cardPreferences(
  extension: Record<string, unknown> | null | undefined,
  options: readonly ConfigurationOption[],
): CardPreferences {
  const raw = extension?.[CONFIGURATION_EXTENSION];
  const requested = isObject(raw) ? raw : {};
  const disabledTopics = new Set<string>();
  let maxCards: number | undefined;
  for (const option of options) {
    const value = effective(option, requested);
    if (option.code === MAX_CARDS && typeof value === 'number') maxCards = value;
    else if (value === false) disabledTopics.add(option.code);
  }
  return maxCards === undefined ? { disabledTopics } : { disabledTopics, maxCards };
}

const PRIORITY: Record<Card['indicator'], number> = { critical: 0, warning: 1, info: 2 };

/** Drops cards of switched-off types, then keeps the most important ones within max-cards. */
export function applyPreferences(cards: readonly Card[], prefs: CardPreferences): Card[] {
  const allowed = cards.filter((c) => !(c.source.topic && prefs.disabledTopics.has(c.source.topic.code)));
  const ranked = allowed
    .map((card, index) => ({ card, index }))
    .sort((a, b) => PRIORITY[a.card.indicator] - PRIORITY[b.card.indicator] || a.index - b.index)
    .map((x) => x.card);
  return prefs.maxCards === undefined ? ranked : ranked.slice(0, prefs.maxCards);
}
