import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adminConsumers, consumerFor } from '../../src/server/admin.js';
import { loadConfig } from '../../src/server/config.js';
import { tempDataDir, testConfig } from '../support/app.js';
import { appOn, assertionIds, cleanupTargets, eventually, lookup, sign, targetFor } from './support.js';

afterAll(cleanupTargets, 60_000);

const hash = (t: string) => createHash('sha256').update(t).digest('hex');
const CLAIMS = 'claims-system-token-aaaaaaaaaaaaaaaaaaaaaaaa';
const PA = 'pa-system-token-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';

function consumersFile(content: unknown): string {
  const file = join(tempDataDir(), 'consumers.json');
  writeFileSync(file, JSON.stringify(content));
  return file;
}

describe('named consumers of GET /coverage-assertions/{id}', () => {
  it(
    "each consumer has its own token; every lookup is audited with the consumer's name, every refused login too",
    { timeout: 30_000 },
    async () => {
      const file = consumersFile({
        consumers: [
          { name: 'claims', tokenSha256: hash(CLAIMS) },
          { name: 'prior-auth', tokenSha256: hash(PA) },
        ],
      });
      const app = await appOn(await targetFor('sqlite'), { CDS_ADMIN_CONSUMERS: file, CDS_ADMIN_TOKEN: '' });
      try {
        const [id] = assertionIds((await sign(app)).body);
        expect((await lookup(app, id!, CLAIMS)).status).toBe(200);
        expect((await lookup(app, id!, PA)).status).toBe(200);
        expect((await lookup(app, id!, `${CLAIMS}x`)).status).toBe(401);
        const store = (await app.store.get())!.store;
        await eventually(
          async () => (await store.auditRecords()).filter((r) => r.kind === 'admin-lookup').length === 2,
        );
        const lookups = (await store.auditRecords()).filter((r) => r.kind === 'admin-lookup');
        expect(lookups.map((r) => [r.consumer, r.status, r.requestMeta['path']])).toEqual([
          ['claims', 200, `/coverage-assertions/${id}`],
          ['prior-auth', 200, `/coverage-assertions/${id}`],
        ]);
        expect(JSON.stringify(lookups)).not.toContain(CLAIMS);
        await eventually(async () => (await store.auditRecords()).some((r) => r.kind === 'admin-login-refused'));
        const refused = (await store.auditRecords()).filter((r) => r.kind === 'admin-login-refused');
        expect(refused.map((r) => [r.consumer, r.status, r.requestMeta['path']])).toEqual([
          [null, 401, `/coverage-assertions/${id}`],
        ]);
        expect(JSON.stringify(refused)).not.toContain(CLAIMS);
      } finally {
        await app.close();
      }
    },
  );

  it('a consumers file that is not valid stops start-up naming the variable; a short CDS_ADMIN_TOKEN too; empty is off', () => {
    const bad = adminConsumers(
      testConfig({ CDS_ADMIN_CONSUMERS: consumersFile({ consumers: [{ name: 'claims', tokenSha256: 'abc' }] }) }),
    );
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.errors[0]).toMatch(/^CDS_ADMIN_CONSUMERS .*tokenSha256/);
    const short = loadConfig({ CDS_ADMIN_TOKEN: 'short' });
    expect(!short.ok && short.errors.join()).toMatch(/CDS_ADMIN_TOKEN/);
    const off = adminConsumers(testConfig({ CDS_ADMIN_TOKEN: '' }));
    expect(off.ok && off.consumers).toEqual([]);
  });

  it('compares token hashes of every consumer', () => {
    const consumers = [
      { name: 'a', tokenHash: Buffer.from(hash(CLAIMS), 'hex') },
      { name: 'b', tokenHash: Buffer.from(hash(PA), 'hex') },
    ];
    expect(consumerFor(consumers, PA)?.name).toBe('b');
    expect(consumerFor(consumers, 'nope')).toBeUndefined();
  });
});
