/**
 * GET /fhir/metadata: the CapabilityStatement of the service's small FHIR endpoint (FHIR R4): Questionnaire read
 * and search by url (open: a Questionnaire holds no PHI), the DTR `$questionnaire-package` operation (protected by
 * a SMART Backend Services token), and the SMART security service with its OAuth endpoints (the
 * oauth-uris extension, as SMART 1.0 servers and most DTR clients still read it next to smart-configuration).
 */

export const QUESTIONNAIRE_PACKAGE_OPERATION =
  'http://hl7.org/fhir/us/davinci-dtr/OperationDefinition/questionnaire-package';
const OAUTH_URIS = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';

export interface CapabilityInput {
  /** e.g. https://crd.example.org/fhir */
  readonly fhirBase: string;
  readonly tokenEndpoint: string;
  readonly software: { readonly name: string; readonly version: string };
  /** The Questionnaires served, as `url|version` (listed for discovery; optional). */
  readonly questionnaires?: readonly string[];
  readonly date: string;
}

export function capabilityStatement(input: CapabilityInput): fhir4.CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: input.date,
    kind: 'instance',
    software: { name: input.software.name, version: input.software.version },
    implementation: { description: 'Coverage documentation: Da Vinci DTR questionnaire packages', url: input.fhirBase },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        security: {
          extension: [{ url: OAUTH_URIS, extension: [{ url: 'token', valueUri: input.tokenEndpoint }] }],
          service: [
            {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' },
              ],
              text: 'SMART Backend Services (client_credentials, private_key_jwt)',
            },
          ],
          description: `$questionnaire-package needs a bearer token from ${input.tokenEndpoint} with scope system/Questionnaire.rs (or system/Questionnaire.read); Questionnaire read and search are open.`,
        },
        resource: [
          {
            type: 'Questionnaire',
            interaction: [{ code: 'read' }, { code: 'search-type' }],
            searchParam: [{ name: 'url', type: 'uri', documentation: 'The canonical url, optionally with |version' }],
            operation: [{ name: 'questionnaire-package', definition: QUESTIONNAIRE_PACKAGE_OPERATION }],
          },
        ],
      },
    ],
  };
}
