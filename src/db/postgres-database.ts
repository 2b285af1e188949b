import { createHash } from 'node:crypto';
import pg from 'pg';
import { arrayLiteral } from './array-literal.ts';
import type { Database, Queryable, QueryResult, TransactionOptions } from './database.ts';
import { withTransactionRetry } from './retry.ts';
import { mergingQueryable } from './statement-merging.ts';

const INT8_OID = 20;
const DATE_OID = 1082;

/** int8 as bigint for this pool only, leaving pg's global parsers alone. */
const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (value: string) => BigInt(value);
    // A \`date\` is a calendar date, not an instant. pg would make it midnight in the process's time
    // zone, and under TZ=Asia/Shanghai its UTC date (toISOString) is the day before.
    if (oid === DATE_OID) return (value: string) => value;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

export interface PostgresOptions {
  url: string;
  /** Pool size; the ledger writer needs one, request handlers the rest. */
  maxConnections?: number;
  /** Run in this schema (created if missing): how tests get an isolated database. */
  schema?: string;
}

/**
 * Named (prepared) statements: each connection parses and plans a statement once, not on every
 * call, which is much of PostgreSQL's work for the ledger batch's large set-based statements. Only
 * statements with parameters (the app's SQL texts are constants, so the names stay few), and not
 * those whose result columns are a table's `*`: a migration adding a column would change a cached plan's
 * result type, which PostgreSQL refuses.
 */
const statementNames = new Map<string, string | null>();
/**
 * Texts built with a varying number of rows would each become a statement kept by every
 * connection (and by its server backend) for good: past this many texts, new ones go unnamed.
 */
const maxNamedStatements = 1000;
const starResult =
  /\bSELECT\s+(DISTINCT\s+)?([a-z_][a-z0-9_]*\.)?\*(?!\s+FROM\s+unnest\()|\bRETURNING\s+([a-z_][a-z0-9_]*\.)?\*/i;
function statementName(sql: string): string | undefined {
  let name = statementNames.get(sql);
  if (name === undefined) {
    if (statementNames.size >= maxNamedStatements) return undefined;
    name = starResult.test(sql) ? null : `m${createHash('sha1').update(sql).digest('base64url')}`;
    statementNames.set(sql, name);
  }
  return name ?? undefined;
}

/**
 * The parameters as pg would send them, arrays already encoded (arrayLiteral: the same text,
 * cheaper to make): group-committed writes send arrays of hundreds of ids as their parameters.
 */
function withArraysEncoded(params: readonly unknown[] | undefined): unknown[] | undefined {
  if (!params?.some((p) => Array.isArray(p))) return params as unknown[] | undefined;
  return params.map((p) => (Array.isArray(p) ? arrayLiteral(p) : p));
}

function queryableOf(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      const result = await client.query({
        text: sql,
        values: withArraysEncoded(params),
        name: params?.length ? statementName(sql) : undefined,
        types: typeParsers,
      });
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
    },
  };
}

/** A transaction's connection: statements issued together share a round trip (statement-merging.ts). */
function transactionQueryable(client: pg.PoolClient): Queryable {
  const single = queryableOf(client);
  return mergingQueryable({
    one: (sql, params) => single.query(sql, params),
    async many(text) {
      const results = (await client.query({ text, types: typeParsers })) as unknown as pg.QueryResult[];
      return results.map((r) => ({ rows: r.rows, rowCount: r.rowCount ?? 0 }));
    },
  });
}

export async function openPostgres(options: PostgresOptions): Promise<Database> {
  if (options.schema && !/^[a-z_][a-z0-9_]*$/.test(options.schema))
    throw new Error(`bad schema name ${options.schema}`);
  if (options.schema) {
    const admin = new pg.Client({ connectionString: options.url });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${options.schema}`);
    } finally {
      await admin.end();
    }
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    // standard_conforming_strings: the literals statement-merging.ts writes rely on it (the default).
    options: `-c standard_conforming_strings=on${options.schema ? ` -c search_path=${options.schema}` : ''}`,
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  const queryable = queryableOf(pool);
  let closed = false;
  return {
    engine: 'postgres',
    query: queryable.query,
    transaction<T>(work: (tx: Queryable) => Promise<T>, txOptions?: TransactionOptions): Promise<T> {
      return withTransactionRetry(async () => {
        const client = await pool.connect();
        let broken = false;
        try {
          const tx = transactionQueryable(client);
          // Not awaited: BEGIN goes in one round trip with the work's first statement.
          const begun = tx.query('BEGIN ISOLATION LEVEL READ COMMITTED');
          begun.catch(() => {});
          const result = await work(tx);
          await begun;
          await client.query('COMMIT');
          return result;
        } catch (error) {
          try {
            await client.query('ROLLBACK');
          } catch {
            broken = true;
          }
          throw error;
        } finally {
          client.release(broken);
        }
      }, txOptions?.maxRetries ?? 10);
    },
    async exec(sql: string): Promise<void> {
      await pool.query(sql);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

/** Drops a schema made for a test run. */
export async function dropPostgresSchema(url: string, schema: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.end();
  }
}
