import { describe, expect, it } from 'vitest';
import { AuditQueue, JtiMemory, storeConfigFromEnv } from '../../src/store/index.js';
import { audit } from './support.js';

describe('store fallbacks without a database', () => {
  it('the audit queue keeps the newest records up to its capacity and counts the dropped ones', () => {
    const queue = new AuditQueue(2);
    for (const hookInstance of ['a', 'b', 'c']) queue.enqueue(audit({ hookInstance }));
    expect(queue.size).toBe(2);
    expect(queue.dropped).toBe(1);
  });

  it('the jti memory accepts once, forgets expired entries and hands its claims back', () => {
    const memory = new JtiMemory();
    const now = new Date('2026-12-01T12:00:00Z');
    const claim = { iss: 'i', jti: 'j', expiresAt: new Date(now.getTime() + 1000) };
    expect(memory.claim(claim, now)).toBe('accepted');
    expect(memory.claim(claim, now)).toBe('replay');
    expect(memory.claim({ ...claim, iss: 'other' }, now)).toBe('accepted');
    expect(memory.claim(claim, new Date(now.getTime() + 2000))).toBe('accepted');
    expect(
      memory
        .drain()
        .map((c) => c.iss)
        .sort(),
    ).toEqual(['i']);
    expect(memory.size).toBe(0);
  });
});

describe('store configuration from the environment', () => {
  it('SQLite under CDS_DATA_DIR by default, PostgreSQL with DATABASE_URL, retention per table', () => {
    const sqlite = storeConfigFromEnv({ CDS_DATA_DIR: '/var/lib/crd' });
    expect(sqlite).toMatchObject({ engine: 'sqlite', file: '/var/lib/crd/crd.sqlite', synchronous: 'FULL' });
    const postgres = storeConfigFromEnv({ DATABASE_URL: 'postgres://u:p@db:5432/crd', CDS_RETENTION_AUDIT_DAYS: '30' });
    expect(postgres).toMatchObject({
      engine: 'postgres',
      databaseUrl: 'postgres://u:p@db:5432/crd',
      retention: { audit: 30 },
    });
    expect(storeConfigFromEnv({ DATABASE_URL: '' }).engine).toBe('sqlite');
  });

  it('an invalid value names the variable and never echoes it', () => {
    expect(() => storeConfigFromEnv({ DATABASE_URL: 'mysql://secret@db' })).toThrow(/DATABASE_URL/);
    expect(() => storeConfigFromEnv({ DATABASE_URL: 'mysql://secret@db' })).not.toThrow(/secret/);
    expect(() => storeConfigFromEnv({ CDS_RETENTION_FEEDBACK_DAYS: '-1' })).toThrow(/CDS_RETENTION_FEEDBACK_DAYS/);
  });
});
