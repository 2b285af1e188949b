import { PGlite, types } from '@electric-sql/pglite';
import type { Database, Queryable, QueryResult, TransactionOptions } from './database.ts';
import { acquireDirectoryLock, type DirectoryLock } from './lock-file.ts';
import { withTransactionRetry } from './retry.ts';

// A \`date\` is a calendar date, not an instant: kept as its YYYY-MM-DD text (as in the pg driver).
const parsers = { [types.INT8]: (value: string) => BigInt(value), [types.DATE]: (value: string) => value };

function wrap(target: { query: PGlite['query'] }): Queryable {
  return {
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      const result = await target.query<Row>(sql, params as unknown[] | undefined);
      // PGlite reports affectedRows 0 for a SELECT; count the rows it returned instead.
      return {
        rows: result.rows,
        rowCount: result.fields.length > 0 ? result.rows.length : (result.affectedRows ?? 0),
      };
    },
  };
}

/**
 * The embedded engine. With a data directory it persists there and holds the directory lock; without
 * one it runs in memory (tests).
 */
export async function openPGlite(dataDir?: string): Promise<Database> {
  const lock: DirectoryLock | undefined = dataDir ? acquireDirectoryLock(dataDir) : undefined;
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(dataDir ? `${dataDir}/pgdata` : undefined, { parsers });
  } catch (error) {
    lock?.release();
    throw error;
  }
  const queryable = wrap(pglite);
  let closed = false;
  return {
    engine: 'pglite',
    query: queryable.query,
    transaction<T>(work: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T> {
      // PGlite runs one transaction at a time; conflicts cannot happen, but the retry keeps the
      // contract identical to PostgreSQL.
      return withTransactionRetry(() => pglite.transaction((tx) => work(wrap(tx))), options?.maxRetries ?? 5);
    },
    async exec(sql: string): Promise<void> {
      await pglite.exec(sql);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      try {
        await pglite.close();
      } finally {
        lock?.release();
      }
    },
  };
}
