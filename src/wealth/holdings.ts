import { isUuid } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';

export interface Holding {
  productId: string;
  productName: string;
  /** 1/100 share; at NAV 1.00 also the value in fen. */
  shares: bigint;
  /** In normal redemptions awaiting payout (still earning). */
  frozenShares: bigint;
  /**
   * Fast redemptions cut short before their payout (`pending`): out of the holding and earning
   * nothing, paid to the wallet by a retry of the order or the close of its day.
   */
  pendingFastRedemptionShares: bigint;
  /** The income of the last closed day (`asOfDate`), 0 when it was not booked yet. */
  yesterdayIncome: bigint;
  cumulativeIncome: bigint;
  lastIncomeDate: string | null;
}

export interface IncomeLine {
  date: string;
  shares: bigint;
  income: bigint;
}

/** The user's money-fund holdings; "yesterday's income" is the income booked for `yesterday`. */
export async function listHoldings(db: Queryable, userId: string, yesterday: string): Promise<Holding[]> {
  const result = await db.query<{
    product_id: string;
    name: string;
    shares: bigint;
    frozen_shares: bigint;
    pending_fast_shares: bigint;
    cumulative_income: bigint;
    last_income: bigint;
    last_income_date: string | null;
  }>(
    `SELECT h.product_id, p.name, h.shares, h.frozen_shares, h.cumulative_income, h.last_income, h.last_income_date,
            (SELECT coalesce(sum(r.shares), 0)::int8 FROM wealth_redemptions r
              WHERE r.holding_id = h.id AND r.status = 'pending' AND r.kind = 'fast') AS pending_fast_shares
     FROM wealth_holdings h JOIN wealth_products p ON p.id = h.product_id
     WHERE h.user_id = $1 ORDER BY p.created_at, p.id`,
    [userId],
  );
  return result.rows.map((r) => ({
    productId: r.product_id,
    productName: r.name,
    shares: r.shares,
    frozenShares: r.frozen_shares,
    pendingFastRedemptionShares: r.pending_fast_shares,
    yesterdayIncome: r.last_income_date === yesterday ? r.last_income : 0n,
    cumulativeIncome: r.cumulative_income,
    lastIncomeDate: r.last_income_date,
  }));
}

/**
 * What each user has in the fund and fixed-term products, fen (1/100 share = 1 fen at NAV 1.00), in
 * one query: money-fund shares (redeemable and frozen), subscriptions not yet confirmed (the money
 * has left the wallet) and fixed-term subscriptions until they mature. Users with none are absent.
 */
export async function holdingsValues(
  db: Queryable,
  userIds: readonly string[],
): Promise<Map<string, bigint>> {
  const valid = [...new Set(userIds)].filter(isUuid);
  const found = new Map<string, bigint>();
  if (valid.length === 0) return found;
  const result = await db.query<{ user_id: string; value: bigint }>(
    `SELECT user_id, sum(value)::int8 AS value FROM (
       SELECT user_id, shares + frozen_shares AS value FROM wealth_holdings WHERE user_id = ANY($1::uuid[])
       UNION ALL
       SELECT s.user_id, s.amount FROM wealth_subscriptions s JOIN wealth_products p ON p.id = s.product_id
       WHERE s.user_id = ANY($1::uuid[]) AND (s.status = 'pending' OR (p.kind = 'fixed_term' AND s.status = 'confirmed'))
     ) v GROUP BY user_id HAVING sum(value) > 0`,
    [valid],
  );
  for (const r of result.rows) found.set(r.user_id, r.value);
  return found;
}

/** A holder's daily income in one fund, newest first. */
export async function incomeHistory(db: Queryable, holdingId: string, limit = 30): Promise<IncomeLine[]> {
  const result = await db.query<{ business_date: string; shares: bigint; income: bigint }>(
    `SELECT business_date, shares, income FROM wealth_income WHERE holding_id = $1
     ORDER BY business_date DESC LIMIT $2`,
    [holdingId, limit],
  );
  return result.rows.map((r) => ({ date: r.business_date, shares: r.shares, income: r.income }));
}

/**
 * Register ↔ ledger: for each money fund, the shares in the register (redeemable + frozen) and
 * the balance of the fund's holders' omnibus share account must be equal after every close.
 */
export async function registerTotals(db: Queryable): Promise<Array<{ productId: string; shares: bigint }>> {
  const result = await db.query<{ product_id: string; shares: bigint }>(
    `SELECT p.id AS product_id, coalesce(sum(h.shares + h.frozen_shares), 0)::int8 AS shares
     FROM wealth_products p LEFT JOIN wealth_holdings h ON h.product_id = p.id
     WHERE p.kind = 'money_fund' GROUP BY p.id ORDER BY p.id`,
  );
  return result.rows.map((r) => ({ productId: r.product_id, shares: r.shares }));
}
