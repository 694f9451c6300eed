import type { Kysely, Migration, MigrationProvider } from 'kysely';
import type { Engine } from './schema.js';

/** Column types that differ between the engines; everything else is spelled the same. */
interface Types {
  timestamp: 'timestamptz' | 'text';
  json: 'jsonb' | 'text';
}

function typesFor(engine: Engine): Types {
  return engine === 'postgres' ? { timestamp: 'timestamptz', json: 'jsonb' } : { timestamp: 'text', json: 'text' };
}

function initial(engine: Engine): Migration {
  const t = typesFor(engine);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('coverage_assertion')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('created_at', t.timestamp, (c) => c.notNull())
        .addColumn('service_id', 'text', (c) => c.notNull())
        .addColumn('hook_instance', 'text', (c) => c.notNull())
        .addColumn('order_ref', 'text', (c) => c.notNull())
        .addColumn('order_code', 'text')
        .addColumn('coverage_ref', 'text', (c) => c.notNull())
        .addColumn('patient_ref', 'text')
        .addColumn('decision', 'text', (c) => c.notNull())
        .addColumn('coverage_information', t.json, (c) => c.notNull())
        .addColumn('trace', t.json, (c) => c.notNull())
        .addColumn('policy_version', 'text')
        .addColumn('questionnaire_canonical', 'text')
        .addColumn('questionnaire_version', 'text')
        .addColumn('order_snapshot', t.json, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('coverage_assertion_order_coverage')
        .on('coverage_assertion')
        .columns(['order_ref', 'coverage_ref', 'created_at'])
        .execute();
      // hookInstance is looked up but never unique.
      await db.schema
        .createIndex('coverage_assertion_hook_instance')
        .on('coverage_assertion')
        .column('hook_instance')
        .execute();
      await db.schema
        .createIndex('coverage_assertion_created_at')
        .on('coverage_assertion')
        .column('created_at')
        .execute();

      await db.schema
        .createTable('card_link')
        .addColumn('card_uuid', 'text', (c) => c.primaryKey())
        .addColumn('assertion_id', 'text', (c) => c.notNull())
        .addColumn('created_at', t.timestamp, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('card_link_assertion').on('card_link').column('assertion_id').execute();
      await db.schema.createIndex('card_link_created_at').on('card_link').column('created_at').execute();

      await db.schema
        .createTable('audit_record')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('created_at', t.timestamp, (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('client_iss', 'text')
        .addColumn('service_id', 'text')
        .addColumn('hook_instance', 'text')
        .addColumn('request_meta', t.json, (c) => c.notNull())
        .addColumn('response', t.json)
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('consumer', 'text')
        .execute();
      await db.schema.createIndex('audit_record_created_at').on('audit_record').column('created_at').execute();
      await db.schema.createIndex('audit_record_hook_instance').on('audit_record').column('hook_instance').execute();

      await db.schema
        .createTable('feedback')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('created_at', t.timestamp, (c) => c.notNull())
        .addColumn('service_id', 'text', (c) => c.notNull())
        .addColumn('card_uuid', 'text', (c) => c.notNull())
        .addColumn('assertion_id', 'text')
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('outcome_timestamp', t.timestamp, (c) => c.notNull())
        .addColumn('override_reason_system', 'text')
        .addColumn('override_reason_code', 'text')
        .addColumn('override_reason_display', 'text')
        .addColumn('user_comment', 'text')
        .addColumn('accepted_suggestions', t.json, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('feedback_assertion').on('feedback').column('assertion_id').execute();
      await db.schema.createIndex('feedback_card').on('feedback').column('card_uuid').execute();
      await db.schema.createIndex('feedback_created_at').on('feedback').column('created_at').execute();

      await db.schema
        .createTable('jti_replay')
        .addColumn('iss', 'text', (c) => c.notNull())
        .addColumn('jti', 'text', (c) => c.notNull())
        .addColumn('expires_at', t.timestamp, (c) => c.notNull())
        .addPrimaryKeyConstraint('jti_replay_pk', ['iss', 'jti'])
        .execute();
      await db.schema.createIndex('jti_replay_expires_at').on('jti_replay').column('expires_at').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['jti_replay', 'feedback', 'audit_record', 'card_link', 'coverage_assertion']) {
        await db.schema.dropTable(table).ifExists().execute();
      }
    },
  };
}

/**
 * The CDS client (`iss` of its JWT) an assertion was issued to, so feedback is linked only by that client. Nullable:
 * rows written before it, and calls made with authentication off, have none. ADD COLUMN of a nullable column with
 * no default changes no existing row on either engine.
 */
const assertionClientIss: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('coverage_assertion').addColumn('client_iss', 'text').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('coverage_assertion').dropColumn('client_iss').execute();
  },
};

/** Versioned migrations, in code (no files to find at run time); names sort in the order they apply. */
export function migrations(engine: Engine): Record<string, Migration> {
  return { '0001_initial': initial(engine), '0002_assertion_client_iss': assertionClientIss };
}

export function migrationProvider(engine: Engine): MigrationProvider {
  return { getMigrations: () => Promise.resolve(migrations(engine)) };
}
