import { randomUUID } from 'node:crypto';
import type { Card, CardSource } from '../cds-hooks/schemas.js';

/** Card builders shared by every CRD service. Texts here are policy-agnostic. */

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

export interface AffectedOrder {
  readonly label: string;
  readonly reference?: string | undefined;
}

export interface UnavailableData {
  readonly description: string;
  readonly reason: string;
}

function bullets(lines: readonly string[]): string {
  return lines.map((l) => `- ${l}`).join('\n');
}

/** Tells the clinician which orders could not be fully checked because part of the record could not be read. */
export function dataUnavailableCard(
  source: ServiceSource,
  orders: readonly AffectedOrder[],
  unavailable: readonly UnavailableData[],
): Card {
  const references = orders.flatMap((o) => (o.reference ? [o.reference] : []));
  const detail = [
    'Part of the patient record could not be read from the EHR, so coverage cannot be confirmed for:',
    '',
    bullets(orders.map((o) => `**${o.label}**`)),
    '',
    'Data not available:',
    '',
    bullets(unavailable.map((u) => `${u.description}: ${u.reason}`)),
    '',
    'Signing again once the EHR can share these records lets the plan complete its check.',
  ].join('\n');
  return {
    uuid: randomUUID(),
    summary: 'Coverage not fully checked: part of the patient record could not be read from the EHR',
    detail,
    indicator: 'warning',
    source: cardSource(source, 'coverage-info'),
    ...(references.length > 0 ? { extension: { [ASSOCIATED_RESOURCE]: references } } : {}),
  };
}
