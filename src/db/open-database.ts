import type { Database } from './database.ts';
import { openPGlite } from './pglite-database.ts';
import { openPostgres } from './postgres-database.ts';

export interface OpenDatabaseOptions {
  databaseUrl?: string | undefined;
  /** PGlite data directory; ignored with a databaseUrl. Omit both for an in-memory PGlite. */
  dataDir?: string | undefined;
  schema?: string | undefined;
  maxConnections?: number | undefined;
}

/** PostgreSQL when a URL is given, otherwise PGlite. */
export function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    return openPostgres({
      url: options.databaseUrl,
      schema: options.schema,
      maxConnections: options.maxConnections,
    });
  }
  return openPGlite(options.dataDir);
}
