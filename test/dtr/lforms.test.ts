import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { classifyAnswers, markOrigins } from '../../src/dtr/information-origin.js';
import { parsePackageInput } from '../../src/dtr/package-input.js';
import { questionnairePackage } from '../../src/dtr/questionnaire-package.js';
import { attestationsFor } from '../../src/rules/attestation.js';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import request from 'supertest';
import { testApp } from '../support/app.js';
import { accessToken, dtrClient, postPackage } from '../support/dtr-client.js';
import { checkQuestionnaireResponse } from '../support/dtr-profiles.js';
import { scenarioFiles } from '../support/scenarios.js';
import { available } from '../support/required.js';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  chromiumInstalled,
  lformsDist,
  lformsPageServer,
  LFORMS_VERSION,
} from '../support/lforms.js';
import { inputParameters, Q_URL, Q_VERSION, questionnaire, stored } from './fixtures.js';

/**
 * The package through a renderer nobody here wrote: LHC-Forms in headless Chromium loads the Questionnaire and the
 * pre-filled response, the test answers the open items in the form, and the response the renderer exports (with
 * the information origins a DTR client puts back) is what the next sign reads.
 */

const haveChromium = available(
  'chromium',
  chromiumInstalled(),
  `${CHROMIUM} is not installed (apt-get install -y chromium)`,
);

let browser: Browser | undefined;
let page: Page;
let server: Awaited<ReturnType<typeof lformsPageServer>> | undefined;

async function packageResources(): Promise<{ q: fhir4.Questionnaire; qr: fhir4.QuestionnaireResponse }> {
  const parsed = parsePackageInput(inputParameters({ context: 'assert-1', order: true }));
  if (!parsed.ok) throw new Error('bad input');
  const result = await questionnairePackage(parsed.value, {
    questionnaires: {
      find: (url, version) => (url === Q_URL && (!version || version === Q_VERSION) ? questionnaire : undefined),
    },
    findEvaluation: async () => stored,
    indicationLinkId: 'indication',
    now: () => new Date(),
  });
  if (!result.ok) throw new Error(JSON.stringify(result.failure));
  const bundle = result.value.output.parameter?.[0]?.resource as fhir4.Bundle;
  return {
    q: bundle.entry?.[0]?.resource as fhir4.Questionnaire,
    qr: bundle.entry?.[1]?.resource as fhir4.QuestionnaireResponse,
  };
}

/** The package as a DTR client shows it: the Questionnaire in LHC-Forms with the pre-filled response merged in. */
async function renderPackage(q: fhir4.Questionnaire, qr: fhir4.QuestionnaireResponse): Promise<void> {
  await page.evaluate(
    async ({ q, qr }) => {
      const LForms = (globalThis as unknown as { LForms: { Util: Record<string, (...a: unknown[]) => unknown> } })
        .LForms;
      const form = LForms.Util['convertFHIRQuestionnaireToLForms']!(q, 'R4');
      const merged = LForms.Util['mergeFHIRDataIntoLForms']!('QuestionnaireResponse', qr, form, 'R4');
      await LForms.Util['addFormToPage']!(merged, 'form');
    },
    { q, qr },
  );
}

/** The QuestionnaireResponse LHC-Forms exports from the form as answered. */
async function exportResponse(): Promise<fhir4.QuestionnaireResponse> {
  return (await page.evaluate(() =>
    (
      globalThis as unknown as { LForms: { Util: { getFormFHIRData: (t: string, v: string) => unknown } } }
    ).LForms.Util.getFormFHIRData('QuestionnaireResponse', 'R4'),
  )) as fhir4.QuestionnaireResponse;
}

describe.skipIf(!haveChromium)(`LHC-Forms ${LFORMS_VERSION} in headless Chromium`, () => {
  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    server = await lformsPageServer(lformsDist());
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage();
    // Offline: only the local page server answers.
    await page.route('**/*', (route) =>
      new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort(),
    );
    await page.goto(server.url);
    await page.waitForFunction(
      () =>
        typeof (globalThis as unknown as { LForms?: { Util?: { addFormToPage?: unknown } } }).LForms?.Util
          ?.addFormToPage === 'function',
      null,
      { timeout: 30_000 },
    );
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  test('loads the pre-filled package, takes the open answers, exports a response the next sign reads', async () => {
    const { q, qr } = await packageResources();
    await renderPackage(q, qr);

    // The record's answers are on screen, the open ones are not.
    await page.locator('[id="A.2/1/1|true"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('[id="A.1/1/1|true"]').getAttribute('class')).toContain('ant-radio-wrapper-checked');
    expect(await page.locator('[id="A.3/1/1|false"]').getAttribute('class')).toContain('ant-radio-wrapper-checked');
    expect(await page.locator('[id="A.2/1/1|true"]').getAttribute('class')).not.toContain('ant-radio-wrapper-checked');

    // The clinician answers what only they can know.
    await page.locator('[id="A.2/1/1|true"]').click();
    await page.locator('[id="attestation/1|true"]').click();

    const exported = await exportResponse();
    expect(exported.questionnaire).toBe(`${Q_URL}|${Q_VERSION}`);

    const completed = {
      ...markOrigins(exported, qr, { practitioner: { reference: 'Practitioner/dr-1' } }),
      id: 'qr-lforms',
    };
    expect(
      checkQuestionnaireResponse(
        completed as unknown as Record<string, unknown>,
        q as unknown as Record<string, unknown>,
      ),
    ).toEqual([]);
    const origins = Object.fromEntries(classifyAnswers(completed).map((a) => [a.linkId, [a.origin, a.value]]));
    expect(origins).toEqual({
      indication: ['auto', { valueCoding: expect.objectContaining({ code: 'A' }) }],
      'GEN.1': ['auto', { valueBoolean: true }],
      'A.1': ['auto', { valueBoolean: true }],
      'A.2': ['manual', { valueBoolean: true }],
      'A.3': ['auto', { valueBoolean: false }],
      attestation: ['manual', { valueBoolean: true }],
    });

    // What the next order-sign reads of it (src/rules/attestation.ts, unchanged).
    const read = attestationsFor({
      responses: [completed],
      questionnaireUrl: Q_URL,
      patientId: 'pat-1',
      orderReference: 'ServiceRequest/sr-1',
    });
    expect(read.answer('A.2')).toMatchObject({ value: true, reference: 'QuestionnaireResponse/qr-lforms' });
    expect(read.answer('attestation')?.value).toBe(true);
    expect(read.answer('A.3')?.value).toBe(false);
  }, 60_000);

  test('through the mounted service: the package of a documentation-needed sign, answered in the form, decides the next sign (covered)', async () => {
    type Rec = Record<string, any>;
    const CI = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';
    const NOW = new Date('2026-11-23T12:00:00Z');
    let elapsed = 0;
    const client = dtrClient();
    const t = testApp({ CDS_TRUSTED_CLIENTS: client.trustedClientsFile }, () => new Date(NOW.getTime() + elapsed));
    const service: Server = createServer(t.app).listen(0, '127.0.0.1');
    await once(service, 'listening');
    try {
      const body: Rec = structuredClone(
        scenarioFiles().find((x) => x.file === 'V-renal' && x.name === 'egfr-stale-unknown')!.fixture.request,
      );
      const sign = async (b: Rec) => {
        elapsed += 1000;
        const res = await request(service).post('/cds-services/cryoablation-order-sign').send(b);
        expect(res.status).toBe(200);
        const order = res.body.systemActions[0].resource as Rec;
        const ci = order['extension'].find((e: Rec) => e['url'] === CI);
        const part = (url: string) => ci.extension.find((e: Rec) => e.url === url);
        return {
          order,
          covered: part('covered').valueCode as string,
          id: part('coverage-assertion-id').valueString as string,
        };
      };
      const first = await sign(body);
      expect(first.covered).toBe('conditional');
      const coverage = body['prefetch']['coverage']['entry'][0]['resource'];
      const token = await accessToken(service, client, Math.floor(NOW.getTime() / 1000));
      const res = await postPackage(
        service,
        {
          resourceType: 'Parameters',
          parameter: [
            { name: 'coverage', resource: coverage },
            { name: 'context', valueString: first.id },
          ],
        },
        token,
      );
      expect(res.status).toBe(200);
      const bundle = JSON.parse(res.text).parameter[0].resource as fhir4.Bundle;
      const q = bundle.entry![0]!.resource as fhir4.Questionnaire;
      const qr = bundle.entry![1]!.resource as fhir4.QuestionnaireResponse;

      await renderPackage(q, qr);
      // Section V is enabled by the pre-filled indication; the clinician answers V.B and the attestation.
      await page.locator('[id="V.B/1/1|true"]').waitFor({ timeout: 15_000 });
      await page.locator('[id="V.B/1/1|true"]').click();
      await page.locator('[id="attestation/1|true"]').click();
      const exported = await exportResponse();
      // The DTR client stores the response for the package's patient (DTR's profile requires subject).
      expect(qr.subject?.reference).toBe(`Patient/${String(body['context']['patientId'])}`);
      const completed = {
        ...markOrigins(exported, qr, { practitioner: { reference: 'Practitioner/dr-1' } }),
        subject: qr.subject,
        // The browser stamps its own day; the service's clock is pinned to the scenario's (a future response attests nothing).
        authored: new Date(NOW.getTime() + elapsed).toISOString(),
        id: 'qr-lforms-service',
        status: 'completed' as const,
      };
      const origins = Object.fromEntries(classifyAnswers(completed).map((a) => [a.linkId, a.origin]));
      expect(origins).toMatchObject({ indication: 'auto', 'V.B': 'manual', attestation: 'manual' });

      const next = structuredClone(body);
      next['hookInstance'] = crypto.randomUUID();
      next['context']['draftOrders']['entry'][0]['resource'] = first.order;
      const responses = next['prefetch']['questionnaireResponses'] ?? {
        resourceType: 'Bundle',
        type: 'searchset',
        entry: [],
      };
      responses['entry'] = [...(responses['entry'] ?? []), { resource: completed }];
      next['prefetch']['questionnaireResponses'] = responses;
      expect((await sign(next)).covered).toBe('covered');
    } finally {
      await new Promise<void>((done) => service.close(() => done()));
      await t.close();
    }
  }, 90_000);
});
