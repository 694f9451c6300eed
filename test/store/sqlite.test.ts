import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createClient } from '@libsql/client';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { assertion, audit, cleanupTargets, freshTarget } from './support.js';

afterAll(cleanupTargets, 60_000);

describe('store on sqlite: other processes on the same file', () => {
  it(
    'a write lock held elsewhere past the busy timeout gives unavailable, and the store recovers when it is released',
    { timeout: 30_000 },
    async () => {
      const target = await freshTarget('sqlite');
      const base = target.config();
      if (base.engine !== 'sqlite') throw new Error('sqlite expected');
      const store = await Store.open({ ...base, busyTimeoutMs: 200 });
      const other = createClient({ url: `file:${base.file}` });
      try {
        const tx = await other.transaction('write');
        await tx.execute(
          "insert into jti_replay (iss, jti, expires_at) values ('other', 'held', '2999-01-01T00:00:00.000Z')",
        );
        const blocked = assertion();
        expect(await store.recordCall({ assertions: [blocked], audit: audit() })).toEqual({
          status: 'unavailable',
          code: 'SQLITE_BUSY',
        });
        await tx.rollback();
        const after = assertion();
        expect((await store.recordCall({ assertions: [after], audit: audit() })).status).toBe('committed');
        expect(await store.getAssertion(blocked.id)).toBeUndefined();
        expect((await store.getAssertion(after.id))?.id).toBe(after.id);
      } finally {
        other.close();
        await store.close();
      }
    },
  );

  it(
    'two processes write one file concurrently: all committed, ids unique, one shared jti accepted once',
    { timeout: 60_000 },
    async () => {
      const target = await freshTarget('sqlite');
      const config = target.config();
      if (config.engine !== 'sqlite') throw new Error('sqlite expected');
      const jti = randomUUID();
      const run = (name: string) =>
        new Promise<{ ids: string[]; jti: string }>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            ['--import', 'tsx', 'test/store/sqlite-writer.ts', config.file, name, jti, '25'],
            {
              cwd: new URL('../../', import.meta.url),
              stdio: ['ignore', 'pipe', 'pipe'],
            },
          );
          let out = '';
          let err = '';
          child.stdout.on('data', (d) => (out += String(d)));
          child.stderr.on('data', (d) => (err += String(d)));
          child.on('close', (code) =>
            code === 0
              ? resolve(JSON.parse(out) as { ids: string[]; jti: string })
              : reject(new Error(`writer ${name}: ${code} ${err}`)),
          );
        });
      // Migrations too run from both processes at once, on a file neither has created yet.
      const [a, b] = await Promise.all([run('a'), run('b')]);
      const ids = [...a.ids, ...b.ids];
      expect(ids).toHaveLength(50);
      expect(new Set(ids).size).toBe(50);
      expect([a.jti, b.jti].sort()).toEqual(['accepted', 'replay']);
      const store = await Store.open(config);
      try {
        for (const id of ids) expect((await store.getAssertion(id))?.id).toBe(id);
      } finally {
        await store.close();
      }
    },
  );
});
