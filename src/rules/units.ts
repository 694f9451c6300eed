import fhirpath from 'fhirpath';

/**
 * Quantity values in a requested unit, by UCUM conversion. A unit that is missing, unknown or not convertible
 * gives no value, so the comparison that needed it stays unknown instead of comparing unlike things.
 */

const UCUM = 'http://unitsofmeasure.org';

interface UcumConversion {
  status: string;
  toVal: number | null;
}
interface UcumUtils {
  convertUnitTo(from: string, value: number, to: string): UcumConversion;
  validateUnitString(unit: string): { status: string };
}
const ucum = (fhirpath as unknown as { ucumUtils: UcumUtils }).ucumUtils;

export type UnitAliases = ReadonlyMap<string, string>;

/** `{'mL/min/{1.73_m2}': ['mL/min/1.73m2', ...]}` → alias → UCUM unit. */
export function unitAliases(table: Record<string, readonly string[]>): UnitAliases {
  return new Map(Object.entries(table).flatMap(([unit, aliases]) => aliases.map((a) => [a, unit] as const)));
}

export function isValidUcum(unit: string): boolean {
  return ucum.validateUnitString(unit).status === 'valid';
}

function quantityUnit(q: Record<string, unknown>, aliases: UnitAliases): string | undefined {
  const code = typeof q['code'] === 'string' ? q['code'].trim() : undefined;
  const unit = typeof q['unit'] === 'string' ? q['unit'].trim() : undefined;
  for (const candidate of [code, unit]) {
    if (candidate && aliases.has(candidate)) return aliases.get(candidate);
  }
  if (code && (q['system'] === UCUM || q['system'] === undefined)) return code;
  if (!code && unit && isValidUcum(unit)) return unit;
  return undefined;
}

/** The quantity's value in `target`, or undefined when it has no usable value or unit. */
export function valueIn(q: unknown, target: string, aliases: UnitAliases): number | undefined {
  if (typeof q !== 'object' || q === null) return undefined;
  const quantity = q as Record<string, unknown>;
  const value = quantity['value'];
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  if (quantity['comparator'] !== undefined) return undefined;
  const from = quantityUnit(quantity, aliases);
  if (!from) return undefined;
  if (from === target) return value;
  // UCUM reads {annotations} as 1, so mL/min would silently pass for mL/min/{1.73_m2}: they must match.
  const notes = (u: string) => (u.match(/\{[^}]*\}/g) ?? []).sort().join();
  if (notes(from) !== notes(target)) return undefined;
  try {
    const converted = ucum.convertUnitTo(from, value, target);
    return converted.status === 'succeeded' && typeof converted.toVal === 'number' ? converted.toVal : undefined;
  } catch {
    return undefined;
  }
}
