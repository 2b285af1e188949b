/**
 * The storage interface every module uses. Two engines sit behind it — PGlite (embedded, the
 * default) and PostgreSQL (DATABASE_URL) — and both return `int8` as `bigint`, `timestamptz` as
 * `Date`, `jsonb` parsed. Modules write plain PostgreSQL SQL and stay within what Postgres-compatible
 * distributed engines accept (no session advisory locks, app-generated ids).
 */
export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>>;
}

export interface TransactionOptions {
  /** How many times a serialization failure or deadlock is retried before giving up. */
  maxRetries?: number;
}

export type DatabaseEngine = 'pglite' | 'postgres';

export interface Database extends Queryable {
  readonly engine: DatabaseEngine;
  /**
   * Runs `work` in one READ COMMITTED transaction. A serialization failure or deadlock rolls back
   * and runs `work` again (so `work` must not have effects outside the transaction); any other
   * error rolls back and is thrown.
   */
  transaction<T>(work: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Runs several statements separated by semicolons (migrations); no parameters. */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}
