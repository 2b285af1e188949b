import pgUtils from 'pg/lib/utils.js';
import { arrayLiteral } from './array-literal.ts';
import type { Queryable, QueryResult } from './database.ts';

/** How a merged group's parts reach the server: one statement alone, or several as one text. */
export interface StatementSender {
  one(sql: string, params?: readonly unknown[]): Promise<QueryResult<unknown>>;
  /** Runs the statements of `text` (no parameters) in one round trip; one result per statement. */
  many(text: string): Promise<Array<QueryResult<unknown>>>;
}

interface Pending {
  sql: string;
  params: readonly unknown[] | undefined;
  resolve: (result: QueryResult<unknown>) => void;
  reject: (error: unknown) => void;
}

const placeholder = /\$(\d+)/g;

/**
 * Whether a statement's parameters can be written into its text: every `$n` carries an explicit
 * cast (so a literal takes exactly the type the parameter had) and no value is binary.
 */
export function inlineable(sql: string, params: readonly unknown[] | undefined): boolean {
  for (const match of sql.matchAll(placeholder))
    if (sql.slice(match.index + match[0].length, match.index + match[0].length + 2) !== '::') return false;
  return !params?.some((p) => p instanceof Buffer || ArrayBuffer.isView(p));
}

/**
 * A string constant. Written here rather than with pg's `escapeLiteral`, which builds its result a
 * character at a time (slow for a batch's kilobytes of response bodies) and doubles backslashes
 * into an E'' string: with `standard_conforming_strings` on (PostgreSQL's default, and set on the
 * pool's connections) a backslash is an ordinary character and only quotes are doubled.
 */
const quoteLiteral = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/** The statement with each `$n` replaced by its value as a literal, encoded as pg encodes parameters. */
export function inlineParameters(sql: string, params: readonly unknown[] | undefined): string {
  if (!params?.length) return sql;
  return sql.replace(placeholder, (_, n: string) => {
    const value = params[Number(n) - 1];
    const text = Array.isArray(value) ? arrayLiteral(value) : pgUtils.prepareValue(value);
    return text === null ? 'NULL' : quoteLiteral(String(text));
  });
}

/**
 * A transaction's statements, sent so that those issued in the same turn of the event loop (a
 * `Promise.all` of independent reads, the writes of a batch) travel in one round trip: one text of
 * several statements (simple query protocol, parameters written in as literals), run in order, each
 * caller getting its own statement's result. On this machine a round trip to PostgreSQL costs far
 * more (CPU and waiting for the scheduler, for both processes) than parsing a statement again, and
 * the ledger's batch is a chain of them. A statement issued alone keeps its ordinary (prepared)
 * path; so do groups with a statement whose parameters cannot be inlined. A failing statement ends
 * the text's run — the server runs nothing after it, and every statement of the group rejects with
 * its error — which, inside a transaction, is what would follow anyway: the transaction is aborted.
 */
export function mergingQueryable(sender: StatementSender): Queryable {
  let pending: Pending[] = [];
  const flush = async () => {
    const group = pending;
    pending = [];
    if (group.length === 1 || !group.every((s) => inlineable(s.sql, s.params))) {
      for (const s of group) sender.one(s.sql, s.params).then(s.resolve, s.reject);
      return;
    }
    try {
      const results = await sender.many(group.map((s) => inlineParameters(s.sql, s.params)).join(';\n'));
      group.forEach((s, i) => s.resolve(results[i]!));
    } catch (error) {
      for (const s of group) s.reject(error);
    }
  };
  return {
    query<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      return new Promise<QueryResult<unknown>>((resolve, reject) => {
        if (pending.length === 0) queueMicrotask(() => void flush());
        pending.push({ sql, params, resolve, reject });
      }) as Promise<QueryResult<Row>>;
    },
  };
}
