import { derivedId, divRound } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import type { CloseStepContext } from '../jobs/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { productAccounts } from './products.ts';
import { payRedemption, type Redemption } from './redemptions.ts';
import type { WealthWallets } from './wallets.ts';

const BATCH = 500;

/** The holding of a user in a fund has one id for ever, derived from both. */
export const holdingId = (productId: string, userId: string): string =>
  derivedId('wealth.holding', `${productId}:${userId}`);

/** Adds confirmed shares to a holder's line in the register. */
export async function creditShares(
  tx: Queryable,
  productId: string,
  userId: string,
  shares: bigint,
  at: Date,
) {
  await tx.query(
    `INSERT INTO wealth_holdings (id, product_id, user_id, shares, created_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (product_id, user_id) DO UPDATE SET shares = wealth_holdings.shares + excluded.shares`,
    [holdingId(productId, userId), productId, userId, shares, at],
  );
}

/**
 * The close step `wealth.orders` for a business date D, before the day's income:
 * 1. pays normal redemptions confirmed on or before D (and any fast one whose payment was cut short);
 * 2. confirms money-fund subscriptions due on or before D (one aggregated ledger entry per fund and
 *    day issues them, then the register's batches credit the holders), starts fixed-term ones due;
 * 3. matures fixed-term subscriptions due on or before D: interest paid, principal and interest
 *    rolled into the money fund as shares confirmed on D (so they earn D's income).
 * Every part is repeatable: ledger ids are derived, and register updates are guarded by status.
 */
export async function closeOrders(
  db: Database,
  ledger: Ledger,
  wallets: WealthWallets,
  ctx: Pick<CloseStepContext, 'businessDate' | 'asOf' | 'checkpoint'>,
): Promise<void> {
  const d = ctx.businessDate;
  let done = 0;
  // 1. Redemptions.
  for (;;) {
    const due = await db.query<Redemption & Record<string, unknown>>(
      `SELECT id, product_id AS "productId", user_id AS "userId", kind, shares, income_loss AS "incomeLoss", status,
              ordered_at AS "orderedAt", confirm_date AS "confirmDate", paid_at AS "paidAt"
       FROM wealth_redemptions WHERE status = 'pending' AND confirm_date <= $1 ORDER BY id LIMIT $2`,
      [d, BATCH],
    );
    if (due.rows.length === 0) break;
    await Promise.all(due.rows.map((r) => payRedemption(db, ledger, wallets, r, ctx.asOf, d)));
    done += due.rows.length;
    await ctx.checkpoint(null, { done });
  }
  // 2. Subscriptions. The fund's one entry for the day goes first, so the holders' omnibus account
  // never holds less than the register: a fast redemption between the register's batches and the
  // entry (or after a close that crashed there) would otherwise take shares the account lacks, its
  // posting refused for good (a failed ledger id stays failed) and the next close stuck paying it.
  // Its amount is the day's whole set, confirmed already by an earlier run or still pending, so a
  // rerun computes the same amount and the derived id posts once. The set is closed: an order
  // placed now confirms after D.
  const issued = await db.query<{ product_id: string; shares: bigint }>(
    `SELECT s.product_id, sum(s.amount)::int8 AS shares
     FROM wealth_subscriptions s JOIN wealth_products p ON p.id = s.product_id
     WHERE p.kind = 'money_fund' AND (s.confirmed_on = $1 OR (s.status = 'pending' AND s.confirm_date <= $1))
     GROUP BY s.product_id ORDER BY s.product_id`,
    [d],
  );
  for (const row of issued.rows) {
    const accounts = productAccounts(row.product_id);
    await ledger.transfer({
      id: derivedId('wealth.confirmations', `${row.product_id}:${d}`),
      debitAccountId: accounts.sharesIssued,
      creditAccountId: accounts.holderShares,
      amount: row.shares,
      metadata: { product_id: row.product_id, business_date: d, memo: 'subscriptions confirmed' },
    });
  }
  for (;;) {
    const confirmed = await db.transaction(async (tx) => {
      const due = await tx.query<{
        id: string;
        product_id: string;
        user_id: string;
        amount: bigint;
        kind: string;
      }>(
        `SELECT s.id, s.product_id, s.user_id, s.amount, p.kind
         FROM wealth_subscriptions s JOIN wealth_products p ON p.id = s.product_id
         WHERE s.status = 'pending' AND s.confirm_date <= $1 ORDER BY s.id LIMIT $2 FOR UPDATE OF s`,
        [d, BATCH],
      );
      for (const s of due.rows)
        if (s.kind === 'money_fund') await creditShares(tx, s.product_id, s.user_id, s.amount, ctx.asOf);
      await tx.query(
        `UPDATE wealth_subscriptions SET status = 'confirmed', confirmed_on = $2 WHERE id = ANY($1::uuid[])`,
        [due.rows.map((s) => s.id), d],
      );
      return due.rows.length;
    });
    if (confirmed === 0) break;
    done += confirmed;
    await ctx.checkpoint(null, { done });
  }
  // 3. Fixed-term maturities.
  for (;;) {
    const due = await db.query<{
      id: string;
      product_id: string;
      user_id: string;
      amount: bigint;
      term_days: number;
      expected_yield: bigint;
      roll_into_product_id: string;
    }>(
      `SELECT s.id, s.product_id, s.user_id, s.amount, p.term_days, p.expected_yield, p.roll_into_product_id
       FROM wealth_subscriptions s JOIN wealth_products p ON p.id = s.product_id
       WHERE p.kind = 'fixed_term' AND s.status = 'confirmed' AND s.maturity_date <= $1
       ORDER BY s.id LIMIT $2`,
      [d, BATCH],
    );
    if (due.rows.length === 0) break;
    for (const s of due.rows) {
      const interest = fixedTermInterest(s.amount, s.expected_yield, s.term_days);
      const total = s.amount + interest;
      const product = productAccounts(s.product_id);
      const fund = productAccounts(s.roll_into_product_id);
      // No income leg at 0% (the ledger refuses zero legs); a negative interest (only a product
      // stored before negative yields were refused) goes back to income, so the entry balances.
      const incomeLeg =
        interest === 0n
          ? []
          : [
              {
                accountId: product.income,
                side: interest > 0n ? ('debit' as const) : ('credit' as const),
                amount: interest > 0n ? interest : -interest,
              },
            ];
      await ledger.postEntry({
        id: derivedId('wealth.maturity', s.id),
        legs: [
          ...incomeLeg,
          { accountId: product.custody, side: 'debit', amount: s.amount },
          { accountId: fund.custody, side: 'credit', amount: total },
          { accountId: fund.sharesIssued, side: 'debit', amount: total },
          { accountId: fund.holderShares, side: 'credit', amount: total },
        ],
        metadata: {
          wealth_subscription_id: s.id,
          interest: interest.toString(),
          memo: 'matured, rolled into the fund',
        },
      });
      await db.transaction(async (tx) => {
        const matured = await tx.query(
          `UPDATE wealth_subscriptions SET status = 'matured', interest = $2 WHERE id = $1 AND status = 'confirmed'`,
          [s.id, interest],
        );
        if (matured.rowCount === 1)
          await creditShares(tx, s.roll_into_product_id, s.user_id, total, ctx.asOf);
      });
    }
    done += due.rows.length;
    await ctx.checkpoint(null, { done });
  }
  await ctx.checkpoint(null, { done });
}

/**
 * Fixed-term interest: principal × yield × term days / 365, yield in 1/10,000 percent, truncated
 * to the fen (`down`, the fund's rule). 100,000.00 at 3.2500% for 90 days → 801.36.
 */
export function fixedTermInterest(principal: bigint, expectedYield: bigint, termDays: number): bigint {
  return divRound(principal * expectedYield * BigInt(termDays), 365n * 1_000_000n, 'down');
}
