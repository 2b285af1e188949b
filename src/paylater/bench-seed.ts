import type { Queryable } from '../db/index.ts';

export interface SeedLinesOptions {
  productId: string;
  /** How many lines to write. */
  count: number;
  /** A name that makes the ids of this population distinct (ids are md5-derived from it and i). */
  population?: string;
  /** The business date the population is opened on; a third of the lines get a statement due before it. */
  businessDate: string;
  /** Lines per INSERT statement. */
  batchSize?: number;
}

/**
 * Benchmark support: writes `count` active lines in set-based INSERTs (generate_series), with
 * statement days spread over 1–28, unbilled principal on every line, and on every third line an
 * unpaid statement that fell due 10 days before `businessDate`, so the close's accrual, statement
 * and revolving-interest paths all have work. Auto-repay is off (no wallets) and no ledger accounts
 * are opened for the lines (the close books interest per product, not per line), so this is load
 * for the close, not a state `ledger verify` would accept. Returns the number of lines written.
 */
export async function seedActiveLines(db: Queryable, o: SeedLinesOptions): Promise<number> {
  const population = o.population ?? 'bench';
  const batch = o.batchSize ?? 100_000;
  for (let from = 1; from <= o.count; from += batch) {
    const to = Math.min(o.count, from + batch - 1);
    await db.query(
      `INSERT INTO paylater_lines (id, user_id, product_id, limit_amount, score, status, auto_repay, statement_day,
         ledger_account_id, principal_outstanding, unbilled_principal, opened_at, opened_date)
       SELECT md5($1 || ':line:' || i)::uuid, md5($1 || ':user:' || i)::uuid, $2, 2000000, 700, 'active', false,
              1 + i % 31, md5($1 || ':account:' || i)::uuid,
              (10000 + (i::int8 * 7919) % 500000) + CASE WHEN i % 3 = 0 THEN 100000 ELSE 0 END,
              10000 + (i::int8 * 7919) % 500000, now(), $5::date - 40
         FROM generate_series($3::int, $4::int) AS i`,
      [population, o.productId, from, to, o.businessDate],
    );
    await db.query(
      `INSERT INTO paylater_statements (id, line_id, product_id, statement_date, due_date, principal, fees, interest,
         carried, min_payment)
       SELECT md5($1 || ':statement:' || i)::uuid, md5($1 || ':line:' || i)::uuid, $2, $5::date - 19, $5::date - 10,
              100000, 0, 0, 0, 10000
         FROM generate_series($3::int, $4::int) AS i WHERE i % 3 = 0`,
      [population, o.productId, from, to, o.businessDate],
    );
  }
  return o.count;
}
