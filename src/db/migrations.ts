import fs from 'node:fs';
import path from 'node:path';
import type { Database } from './database.ts';

/**
 * A versioned SQL migration owned by one module. Each module keeps its SQL files in its own
 * `migrations/` folder named `NNNN_description.sql`; the runner applies the ones not yet recorded,
 * in module order then version order, each in its own transaction.
 */
export interface Migration {
  module: string;
  version: number;
  name: string;
  sql: string;
}

/** Reads `NNNN_name.sql` files from a folder (a module's `migrations/`). */
export function loadMigrations(module: string, folder: string): Migration[] {
  return fs
    .readdirSync(folder)
    .filter((file) => /^\d{4}_[a-z0-9_]+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      module,
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: fs.readFileSync(path.join(folder, file), 'utf8'),
    }));
}

export async function applyMigrations(db: Database, migrations: readonly Migration[]): Promise<string[]> {
  await db.exec(`
    CREATE TABLE IF NOT EXISTS schema_migrations (
      module text NOT NULL,
      version int NOT NULL,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (module, version)
    )`);
  const applied: string[] = [];
  for (const migration of migrations) {
    const done = await db.transaction(async (tx) => {
      // The row lock on schema_migrations makes two processes starting together apply it once.
      await tx.query('LOCK TABLE schema_migrations IN SHARE ROW EXCLUSIVE MODE');
      const existing = await tx.query('SELECT 1 FROM schema_migrations WHERE module = $1 AND version = $2', [
        migration.module,
        migration.version,
      ]);
      if (existing.rowCount > 0) return false;
      for (const statement of splitStatements(migration.sql)) await tx.query(statement);
      await tx.query('INSERT INTO schema_migrations (module, version, name) VALUES ($1, $2, $3)', [
        migration.module,
        migration.version,
        migration.name,
      ]);
      return true;
    });
    if (done)
      applied.push(`${migration.module}/${String(migration.version).padStart(4, '0')}_${migration.name}`);
  }
  return applied;
}

/** Migrations hold DDL only: no `--` inside strings and no `;` inside bodies, so this split is exact. */
function splitStatements(sql: string): string[] {
  return sql
    .replace(/--.*$/gm, '')
    .split(/;\s*(?:\n|$)/)
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0);
}
