import { z } from 'zod';

/** Schema pieces shared by every FHIR-carrying message: the FHIR id rule, a resource, a non-empty string. */

export const nonEmpty = z.string().min(1, 'must be a non-empty string');

/** FHIR id: [A-Za-z0-9\-\.]{1,64}; `.` and `..` are refused because they are path segments in a URL. */
export function isFhirId(value: string): boolean {
  return /^[A-Za-z0-9\-.]{1,64}$/.test(value) && value !== '.' && value !== '..';
}

/** A key clients can use as a JSON property name (query keys, configuration option codes). */
export const jsonPropertyName = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export const resourceSchema = z.looseObject({ resourceType: nonEmpty });

export const codingSchema = z.strictObject({ system: nonEmpty, code: nonEmpty, display: nonEmpty.optional() });
