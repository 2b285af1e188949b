import { randomBytes } from 'node:crypto';
import {
  applyMigrations,
  dropPostgresSchema,
  openDatabase,
  type Database,
  type Migration,
} from '../../src/db/index.ts';

export interface TestDatabase {
  db: Database;
  /** The schema on PostgreSQL (undefined on PGlite), for child processes that must share it. */
  schema: string | undefined;
  url: string | undefined;
  close(): Promise<void>;
}

/**
 * The storage suites run on in-memory PGlite by default and on PostgreSQL when DATABASE_URL is set
 * (as .ci/run does). On PostgreSQL each suite gets a fresh schema, dropped afterwards.
 */
export async function openTestDatabase(
  migrations: readonly Migration[],
  options: { maxConnections?: number } = {},
): Promise<TestDatabase> {
  const url = process.env.DATABASE_URL || undefined;
  const schema = url ? `millet_test_${randomBytes(6).toString('hex')}` : undefined;
  const db = await openDatabase({ databaseUrl: url, schema, maxConnections: options.maxConnections });
  await applyMigrations(db, migrations);
  return {
    db,
    schema,
    url,
    async close() {
      await db.close();
      if (url && schema) await dropPostgresSchema(url, schema);
    },
  };
}

export const onPostgres = Boolean(process.env.DATABASE_URL);
