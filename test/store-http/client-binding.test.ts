import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JWK } from 'jose';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../support/app.js';
import { tempDataDir } from '../support/app.js';
import { clientJwt } from '../support/jwt.js';
import { testKeyPair } from '../support/keys.js';
import {
  SERVICE,
  appOn,
  assertionIds,
  cleanupTargets,
  engines,
  eventually,
  lookup,
  signRequest,
  targetFor,
  trackApps,
} from './support.js';

/** Two trusted CDS clients on one deployment: each assertion is bound to the client it was issued to. */

afterAll(cleanupTargets, 60_000);

const TIMEOUT = { timeout: 60_000 };
const track = trackApps();
const FEEDBACK = `${SERVICE}/feedback`;

interface Client {
  readonly iss: string;
  readonly alg: 'ES384' | 'RS384';
  readonly priv: JWK;
}

function twoClients(): { a: Client; b: Client; file: string } {
  const ka = testKeyPair('ES384', 'client-a-es384');
  const kb = testKeyPair('RS384', 'client-b-rs384');
  const a: Client = { iss: 'https://ehr-a.test.invalid', alg: 'ES384', priv: ka.priv };
  const b: Client = { iss: 'https://ehr-b.test.invalid', alg: 'RS384', priv: kb.priv };
  const file = join(tempDataDir(), 'trusted-clients.json');
  writeFileSync(
    file,
    JSON.stringify({
      clients: [
        { iss: a.iss, jwks: { keys: [ka.pub] } },
        { iss: b.iss, jwks: { keys: [kb.pub] } },
      ],
    }),
  );
  return { a, b, file };
}

function jwt(app: TestApp, client: Client, path: string): Promise<string> {
  return clientJwt({
    aud: `${app.config.publicBaseUrl}${path}`,
    key: client.priv,
    alg: client.alg,
    claims: { iss: client.iss },
  });
}

async function signAs(app: TestApp, client: Client, body: object = signRequest()): Promise<request.Response> {
  return request(app.app)
    .post(SERVICE)
    .set('Authorization', `Bearer ${await jwt(app, client, SERVICE)}`)
    .send(body);
}

async function feedbackAs(app: TestApp, client: Client, card: string, outcome = 'accepted'): Promise<number> {
  const res = await request(app.app)
    .post(FEEDBACK)
    .set('Authorization', `Bearer ${await jwt(app, client, FEEDBACK)}`)
    .send({ feedback: [{ card, outcome, outcomeTimestamp: '2026-11-23T12:01:00Z' }] });
  return res.status;
}

const linkedCard = (body: { cards: { uuid: string; extension?: Record<string, unknown> }[] }) =>
  body.cards.find((c) => c.extension !== undefined)!.uuid;

describe.each(engines)('assertions bound to their CDS client over HTTP (%s)', (engine) => {
  it(
    'the assertion shows its client; feedback from that client links, from another is answered 200, stored unlinked and counted in its audit record',
    TIMEOUT,
    async () => {
      const { a, b, file } = twoClients();
      const app = track(await appOn(await targetFor(engine), { CDS_TRUSTED_CLIENTS: file }));
      const store = (await app.store.get())!.store;
      const signed = await signAs(app, a);
      expect(signed.status).toBe(200);
      const [id] = assertionIds(signed.body);
      const card = linkedCard(signed.body);
      expect((await lookup(app, id!)).body).toMatchObject({ id, clientIss: a.iss, feedback: [] });

      expect(await feedbackAs(app, b, card, 'overridden')).toBe(200);
      expect((await lookup(app, id!)).body.feedback).toEqual([]);
      expect(await feedbackAs(app, a, card)).toBe(200);
      expect((await lookup(app, id!)).body.feedback).toEqual([
        expect.objectContaining({ card, assertionId: id, outcome: 'accepted' }),
      ]);

      const feedbackAudit = async () => (await store.auditRecords()).filter((r) => r.kind === 'feedback');
      await eventually(async () => (await feedbackAudit()).length === 2);
      // Found by client: records written on the app's pinned clock share a time.
      const records = await feedbackAudit();
      const fromA = records.find((r) => r.clientIss === a.iss);
      const fromB = records.find((r) => r.clientIss === b.iss);
      expect(fromB).toMatchObject({ clientIss: b.iss, status: 200, response: { otherClientEntries: 1 } });
      expect(fromA).toMatchObject({ clientIss: a.iss, status: 200, response: { otherClientEntries: 0 } });
      // A count only: nothing of the other client (its iss, its assertion) in B's record.
      expect(JSON.stringify(fromB)).not.toContain(a.iss);
      expect(JSON.stringify(fromB)).not.toContain(id);
    },
  );

  it(
    "another client re-signing an order that carries the first client's unchanged assertion gets one of its own",
    TIMEOUT,
    async () => {
      const { a, b, file } = twoClients();
      const app = track(await appOn(await targetFor(engine), { CDS_TRUSTED_CLIENTS: file }));
      const first = await signAs(app, a);
      const [id] = assertionIds(first.body);
      const again = () => {
        const body = signRequest();
        body['context']['draftOrders']['entry'][0]['resource'] = first.body.systemActions[0].resource;
        return body;
      };
      // The owner re-signing: nothing new, its cards link to its assertion.
      const owner = await signAs(app, a, again());
      expect(owner.body.systemActions).toEqual([]);

      const other = await signAs(app, b, again());
      expect(other.status).toBe(200);
      const [otherId] = assertionIds(other.body);
      expect(otherId).toBeDefined();
      expect(otherId).not.toBe(id);
      expect((await lookup(app, otherId!)).body.clientIss).toBe(b.iss);
      // B's feedback on B's card links to B's assertion.
      expect(await feedbackAs(app, b, linkedCard(other.body))).toBe(200);
      expect((await lookup(app, otherId!)).body.feedback).toHaveLength(1);
      expect((await lookup(app, id!)).body.feedback).toEqual([]);
    },
  );

  it(
    'an authenticated client re-signing an order that carries an assertion of no client gets one of its own',
    TIMEOUT,
    async () => {
      const target = await targetFor(engine);
      const { a, file } = twoClients();
      const open = track(await appOn(target, { CDS_AUTH: 'off' }));
      const first = await request(open.app).post(SERVICE).send(signRequest());
      const [legacy] = assertionIds(first.body);
      expect((await lookup(open, legacy!)).body.clientIss).toBeNull();
      const body = signRequest();
      body['context']['draftOrders']['entry'][0]['resource'] = first.body.systemActions[0].resource;
      const secured = track(await appOn(target, { CDS_TRUSTED_CLIENTS: file }));
      const resigned = await signAs(secured, a, body);
      expect(resigned.status).toBe(200);
      const [own] = assertionIds(resigned.body);
      expect(own).toBeDefined();
      expect(own).not.toBe(legacy);
      expect((await lookup(secured, own!)).body.clientIss).toBe(a.iss);
    },
  );

  it('with authentication off the assertion has no client, and feedback links to it', TIMEOUT, async () => {
    const app = track(await appOn(await targetFor(engine), { CDS_AUTH: 'off' }));
    const signed = await request(app.app).post(SERVICE).send(signRequest());
    expect(signed.status).toBe(200);
    const [id] = assertionIds(signed.body);
    expect((await lookup(app, id!)).body.clientIss).toBeNull();
    const fb = await request(app.app)
      .post(FEEDBACK)
      .send({
        feedback: [{ card: linkedCard(signed.body), outcome: 'accepted', outcomeTimestamp: '2026-11-23T12:01:00Z' }],
      });
    expect(fb.status).toBe(200);
    expect((await lookup(app, id!)).body.feedback).toEqual([expect.objectContaining({ assertionId: id })]);
  });
});
