import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { omit } from '../support/objects.js';
import { CLIENT_ISS, assertion, audit, cleanupTargets, engines, freshTarget } from './support.js';

afterAll(cleanupTargets, 60_000);

const TIMEOUT = { timeout: 30_000 };

describe.each(engines)('store on %s', (engine) => {
  it(
    'creates the database, keeps assertions across close and reopen, and finds the latest per order and coverage',
    TIMEOUT,
    async () => {
      const target = await freshTarget(engine);
      const config = target.config();
      const store = await Store.open(config);
      if (config.engine === 'sqlite') expect(existsSync(config.file)).toBe(true);
      const first = assertion({
        decision: 'documentation-needed',
        questionnaireCanonical: 'http://example.org/Questionnaire/q',
        questionnaireVersion: '1.0.0',
      });
      expect((await store.recordCall({ assertions: [first], audit: audit() })).status).toBe('committed');
      await store.close();

      const reopened = await Store.open(config);
      try {
        const found = await reopened.getAssertion(first.id);
        expect(found).toMatchObject(omit(first, 'cardUuids'));
        expect(Date.parse(found!.createdAt)).not.toBeNaN();

        // Re-signing the same order for the same coverage: the latest wins. hookInstance repeats are allowed.
        const second = assertion({ orderRef: first.orderRef, decision: 'covered', hookInstance: first.hookInstance });
        await new Promise((resolve) => setTimeout(resolve, 5));
        expect((await reopened.recordCall({ assertions: [second], audit: audit() })).status).toBe('committed');
        expect((await reopened.latestAssertion(first.orderRef, first.coverageRef))?.id).toBe(second.id);
        expect(await reopened.latestAssertion(first.orderRef, 'Coverage/other')).toBeUndefined();
        const byInstance = (await reopened.assertionsByHookInstance(first.hookInstance)).map((a) => a.id);
        expect(byInstance).toEqual(expect.arrayContaining([first.id, second.id]));
        expect(await reopened.getAssertion('no-such-id')).toBeUndefined();
      } finally {
        await reopened.close();
      }
    },
  );

  it('writes a call in one transaction: a replayed jti rolls back its assertions and audit', TIMEOUT, async () => {
    const store = await Store.open((await freshTarget(engine)).config());
    try {
      const jti = { iss: 'https://ehr.example', jti: randomUUID(), expiresAt: new Date(Date.now() + 300_000) };
      const a1 = assertion();
      const a2 = assertion();
      const hookInstance = randomUUID();
      expect(await store.recordCall({ assertions: [a1], audit: audit({ hookInstance }), jti })).toMatchObject({
        status: 'committed',
      });
      expect(await store.recordCall({ assertions: [a2], audit: audit({ hookInstance }), jti })).toEqual({
        status: 'replay',
      });
      expect(await store.getAssertion(a1.id)).toBeDefined();
      expect(await store.getAssertion(a2.id)).toBeUndefined();
      expect(await store.auditRecords({ hookInstance })).toHaveLength(1);
      expect(await store.claimJti(jti)).toBe('replay');
    } finally {
      await store.close();
    }
  });

  it('keeps no token or JWT in any stored row', TIMEOUT, async () => {
    const store = await Store.open((await freshTarget(engine)).config());
    try {
      const secret = 'eyJhbGciOiJSUzM4NCJ9.SECRET-TOKEN.sig';
      const hookInstance = randomUUID();
      await store.recordCall({
        assertions: [assertion({ hookInstance })],
        audit: audit({
          hookInstance,
          requestMeta: {
            hook: 'order-sign',
            headers: { Authorization: `Bearer ${secret}`, 'user-agent': 'x' },
            fhirAuthorization: { access_token: secret, token_type: 'Bearer', scope: 'patient/*.read' },
            jwt: secret,
          },
        }),
      });
      const [row] = await store.auditRecords({ hookInstance });
      expect(row?.requestMeta).toEqual({ hook: 'order-sign', headers: { 'user-agent': 'x' } });
      expect(JSON.stringify(row)).not.toContain('SECRET-TOKEN');
    } finally {
      await store.close();
    }
  });

  it('accepts one jti once across two instances, and again only after it expired', TIMEOUT, async () => {
    const target = await freshTarget(engine);
    let clock = Date.now();
    const options = { now: () => new Date(clock) };
    const [a, b] = await Promise.all([Store.open(target.config(), options), Store.open(target.config(), options)]);
    try {
      const claim = { iss: 'https://ehr.example', jti: randomUUID(), expiresAt: new Date(clock + 60_000) };
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).claimJti(claim)));
      expect(results.filter((r) => r === 'accepted')).toHaveLength(1);
      expect(await b.claimJti({ ...claim, iss: 'https://other.example' })).toBe('accepted');
      clock += 61_000;
      expect(await a.claimJti({ ...claim, expiresAt: new Date(clock + 60_000) })).toBe('accepted');
      expect(await b.claimJti(claim)).toBe('replay');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('two instances writing concurrently: every id unique and readable from either', TIMEOUT, async () => {
    const target = await freshTarget(engine);
    const [a, b] = await Promise.all([Store.open(target.config()), Store.open(target.config())]);
    try {
      const calls = Array.from({ length: 40 }, (_, i) => ({
        store: i % 2 === 0 ? a : b,
        items: [assertion(), assertion({ coverageRef: 'Coverage/cov-2' })],
      }));
      const results = await Promise.all(
        calls.map((c) =>
          c.store.recordCall({
            assertions: c.items,
            audit: audit(),
            jti: { iss: 'x', jti: randomUUID(), expiresAt: new Date(Date.now() + 60_000) },
          }),
        ),
      );
      expect(results.every((r) => r.status === 'committed')).toBe(true);
      const ids = calls.flatMap((c) => c.items.map((item) => item.id));
      expect(new Set(ids).size).toBe(ids.length);
      for (const id of ids) {
        expect((await a.getAssertion(id))?.id).toBe(id);
        expect((await b.getAssertion(id))?.id).toBe(id);
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('runs migrations from several instances at once without error', TIMEOUT, async () => {
    const target = await freshTarget(engine);
    const stores = await Promise.all([1, 2, 3].map(() => Store.open(target.config())));
    try {
      const a = assertion();
      expect((await stores[0]!.recordCall({ assertions: [a], audit: audit() })).status).toBe('committed');
      expect((await stores[2]!.getAssertion(a.id))?.id).toBe(a.id);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('stores feedback linked to the assertion through its card, and shows it with the assertion', TIMEOUT, async () => {
    const store = await Store.open((await freshTarget(engine)).config());
    try {
      const card = randomUUID();
      const a = assertion({ cardUuids: [card] });
      await store.recordCall({ assertions: [a], audit: audit() });
      expect(await store.assertionIdForCard(card)).toBe(a.id);
      const stored = await store.recordFeedback(
        [
          {
            serviceId: a.serviceId,
            card,
            outcome: 'accepted',
            outcomeTimestamp: '2026-12-01T10:00:00Z',
            acceptedSuggestions: ['s-1'],
          },
          {
            serviceId: a.serviceId,
            card,
            outcome: 'overridden',
            outcomeTimestamp: '2026-12-01T10:05:00.000Z',
            overrideReason: {
              system: 'http://example.org/override',
              code: 'patient-declined',
              display: 'Patient declined',
            },
            userComment: 'discussed with the patient',
          },
          {
            serviceId: a.serviceId,
            card: 'unknown-card',
            outcome: 'overridden',
            outcomeTimestamp: '2026-12-01T10:06:00Z',
          },
        ],
        { clientIss: CLIENT_ISS },
      );
      expect(stored.entries.map((f) => f.assertionId)).toEqual([a.id, a.id, null]);
      expect(stored.otherClientEntries).toBe(0);
      const shown = await store.feedbackForAssertion(a.id);
      expect(shown).toHaveLength(2);
      expect(shown.find((f) => f.outcome === 'accepted')).toMatchObject({
        card,
        acceptedSuggestions: ['s-1'],
        overrideReason: null,
        outcomeTimestamp: '2026-12-01T10:00:00.000Z',
      });
      expect(shown.find((f) => f.outcome === 'overridden')).toMatchObject({
        overrideReason: {
          system: 'http://example.org/override',
          code: 'patient-declined',
          display: 'Patient declined',
        },
        userComment: 'discussed with the patient',
        acceptedSuggestions: [],
      });
    } finally {
      await store.close();
    }
  });

  it('purges each table after its own retention period, and expired jtis', TIMEOUT, async () => {
    const target = await freshTarget(engine);
    const start = Date.parse('2026-01-01T00:00:00Z');
    let clock = start;
    const store = await Store.open(target.config({ retention: { assertions: 30, audit: 10, feedback: 20 } }), {
      now: () => new Date(clock),
    });
    const keepForever = await Store.open(target.config({ retention: { assertions: 0, audit: 0, feedback: 0 } }), {
      now: () => new Date(clock),
    });
    try {
      const card = randomUUID();
      const old = assertion({ cardUuids: [card] });
      await store.recordCall({
        assertions: [old],
        audit: audit(),
        jti: { iss: 'x', jti: 'j1', expiresAt: new Date(start + 60_000) },
      });
      await store.recordFeedback(
        [{ serviceId: old.serviceId, card, outcome: 'accepted', outcomeTimestamp: new Date(start).toISOString() }],
        { clientIss: CLIENT_ISS },
      );

      clock = start + 15 * 86_400_000;
      const recent = assertion();
      await store.recordCall({ assertions: [recent], audit: audit() });
      expect(await keepForever.purge()).toEqual({ assertions: 0, cardLinks: 0, audit: 0, feedback: 0, jti: 1 });
      expect(await store.purge()).toEqual({ assertions: 0, cardLinks: 0, audit: 1, feedback: 0, jti: 0 });

      clock = start + 25 * 86_400_000;
      expect(await store.purge()).toEqual({ assertions: 0, cardLinks: 0, audit: 0, feedback: 1, jti: 0 });

      clock = start + 31 * 86_400_000;
      expect(await store.purge()).toEqual({ assertions: 1, cardLinks: 1, audit: 1, feedback: 0, jti: 0 });
      expect(await store.getAssertion(old.id)).toBeUndefined();
      expect((await store.getAssertion(recent.id))?.id).toBe(recent.id);
      expect(await store.assertionIdForCard(card)).toBeUndefined();
      expect(await store.auditRecords()).toHaveLength(0);
    } finally {
      await Promise.all([store.close(), keepForever.close()]);
    }
  });
});
