/**
 * Code system URIs as EHRs send them. Epic and others often send the HL7 OIDs instead of the FHIR URIs; both
 * name the same system, so codings are compared on the canonical URI.
 */
const ALIASES: Record<string, string> = {
  'urn:oid:2.16.840.1.113883.6.90': 'http://hl7.org/fhir/sid/icd-10-cm',
  'urn:oid:2.16.840.1.113883.6.96': 'http://snomed.info/sct',
  'urn:oid:2.16.840.1.113883.6.1': 'http://loinc.org',
  'urn:oid:2.16.840.1.113883.6.12': 'http://www.ama-assn.org/go/cpt',
  'urn:oid:2.16.840.1.113883.6.8': 'http://unitsofmeasure.org',
};

export function canonicalSystem(system: unknown): unknown {
  return typeof system === 'string' ? (ALIASES[system.trim()] ?? system.trim()) : system;
}
