import { divRound } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import { delinquencyBucketSql, delinquencyBuckets, type DelinquencyBucket } from './delinquency.ts';

export interface BucketLine {
  bucket: DelinquencyBucket;
  loans: number;
  principalOutstanding: bigint;
  interestReceivable: bigint;
  penaltyReceivable: bigint;
}

/** Active loans by delinquency bucket (days past due as of the last close), every bucket listed. */
export async function bookByBucket(db: Queryable, productCode?: string): Promise<BucketLine[]> {
  const { rows } = await db.query<{
    bucket: DelinquencyBucket;
    loans: number;
    principal: bigint;
    interest: bigint;
    penalty: bigint;
  }>(
    `SELECT ${delinquencyBucketSql('dpd')} AS bucket, count(*)::int AS loans, sum(principal_outstanding)::int8 AS principal,
       sum(interest_accrued - interest_paid)::int8 AS interest, sum(penalty_accrued - penalty_paid)::int8 AS penalty
     FROM lending_loans WHERE status = 'active' AND ($1::text IS NULL OR product_code = $1) GROUP BY 1`,
    [productCode ?? null],
  );
  const byBucket = new Map(rows.map((r) => [r.bucket, r]));
  return delinquencyBuckets.map((bucket) => {
    const r = byBucket.get(bucket);
    return {
      bucket,
      loans: r ? Number(r.loans) : 0,
      principalOutstanding: BigInt(r?.principal ?? 0n),
      interestReceivable: BigInt(r?.interest ?? 0n),
      penaltyReceivable: BigInt(r?.penalty ?? 0n),
    };
  });
}

export interface VintagePoint {
  originationMonth: string;
  monthsOnBook: number;
  loans: number;
  loans30Plus: number;
  /** Share of loans 30+ days past due, percent with 2 decimals (half-even). */
  share30Plus: string;
  principalOutstanding: bigint;
}

/**
 * Vintages: loans grouped by month of origination, for each month on book the share 30+ days
 * past due at that month's end (month-end snapshots taken by the close; charged-off loans stay in
 * their vintage and count as 30+).
 */
export async function vintages(db: Queryable, productCode?: string): Promise<VintagePoint[]> {
  const { rows } = await db.query<{ om: string; mob: number; loans: number; bad: number; principal: bigint }>(
    `SELECT s.origination_month AS om, s.months_on_book AS mob, count(*)::int AS loans,
       count(*) FILTER (WHERE s.dpd >= 30)::int AS bad, sum(s.principal_outstanding)::int8 AS principal
     FROM lending_aging_snapshots s JOIN lending_loans l ON l.id = s.loan_id
     WHERE $1::text IS NULL OR l.product_code = $1
     GROUP BY 1, 2 ORDER BY 1, 2`,
    [productCode ?? null],
  );
  return rows.map((r) => {
    const bps = divRound(BigInt(r.bad) * 10_000n, BigInt(Math.max(1, r.loans)), 'half_even');
    return {
      originationMonth: r.om,
      monthsOnBook: r.mob,
      loans: r.loans,
      loans30Plus: r.bad,
      share30Plus: `${bps / 100n}.${(bps % 100n).toString().padStart(2, '0')}`,
      principalOutstanding: BigInt(r.principal),
    };
  });
}
