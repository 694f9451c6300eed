import type { CardSource } from './hook-response.js';

/** CRD card vocabulary shared by every service: card types (source.topic) and extension keys. */

export const CARD_TYPE_SYSTEM = 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp';
export const ASSOCIATED_RESOURCE = 'davinci-crd.associated-resource';

export const CARD_TYPES = {
  'coverage-info': 'Coverage Information',
  guideline: 'Guideline',
  'off-guideline': 'Off-Guideline',
} as const;

export type CardType = keyof typeof CARD_TYPES;

export interface ServiceSource {
  readonly label: string;
  readonly url?: string | undefined;
  readonly icon?: string | undefined;
}

export function cardSource(source: ServiceSource, topic: CardType): CardSource {
  return {
    label: source.label,
    ...(source.url ? { url: source.url } : {}),
    ...(source.icon ? { icon: source.icon } : {}),
    topic: { system: CARD_TYPE_SYSTEM, code: topic, display: CARD_TYPES[topic] },
  };
}
