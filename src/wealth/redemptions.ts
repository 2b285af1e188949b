import { MilletError, businessDateOf, derivedId, formatMinorUnits, type Clock } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { loadCalendar } from './holidays.ts';
import { getProduct, productAccounts } from './products.ts';
import type { WealthWallets } from './wallets.ts';

/** Fast (T+0) redemption: at most 10,000.00 CNY per user per natural day (Asia/Shanghai). */
export const FAST_REDEMPTION_DAILY_CAP = 1_000_000n;

export type RedemptionKind = 'fast' | 'normal';

export interface RedeemCommand {
  id: string;
  userId: string;
  productId: string;
  /** 1/100 share (worth one fen each at NAV 1.00). */
  shares: bigint;
}

export interface Redemption {
  id: string;
  productId: string;
  userId: string;
  kind: RedemptionKind;
  shares: bigint;
  status: 'pending' | 'paid';
  orderedAt: Date;
  /** Fast: the order's day. Normal: the next trading day after T, when the close pays it. */
  confirmDate: string;
  paidAt: Date | null;
}

interface Row {
  id: string;
  product_id: string;
  user_id: string;
  kind: RedemptionKind;
  shares: bigint;
  status: 'pending' | 'paid';
  ordered_at: Date;
  confirm_date: string;
  paid_at: Date | null;
}

const fromRow = (r: Row): Redemption => ({
  id: r.id,
  productId: r.product_id,
  userId: r.user_id,
  kind: r.kind,
  shares: r.shares,
  status: r.status,
  orderedAt: r.ordered_at,
  confirmDate: r.confirm_date,
  paidAt: r.paid_at,
});

/**
 * Redeems shares of a money fund. Fast: the shares leave the register and the money reaches the
 * wallet now, charged against the user's daily cap by one conditional upsert in the same
 * transaction as the share decrement (so concurrent redemptions cannot pass the cap together); those
 * shares earn nothing for the day of the order. Normal: the shares are frozen now (they keep
 * earning) and the close of the next trading day after T pays them out; no cap.
 */
export async function redeem(
  db: Database,
  ledger: Ledger,
  clock: Clock,
  wallets: WealthWallets,
  kind: RedemptionKind,
  command: RedeemCommand,
): Promise<Redemption> {
  const existing = await db.query<Row>('SELECT * FROM wealth_redemptions WHERE id = $1', [command.id]);
  if (existing.rows[0]) {
    const r = fromRow(existing.rows[0]);
    if (r.userId !== command.userId || r.kind !== kind || r.shares !== command.shares)
      throw new MilletError('ENTRY_ID_CONFLICT', `redemption ${command.id} exists with other fields`, {
        id: command.id,
      });
    return r.status === 'pending' && kind === 'fast' ? payRedemption(db, ledger, wallets, r, clock.now()) : r;
  }
  if (command.shares <= 0n)
    throw new MilletError('AMOUNT_INVALID', 'shares must be positive', { field: 'shares' });
  const product = await getProduct(db, command.productId);
  if (product.kind === 'fixed_term')
    throw new MilletError(
      'WEALTH_PRODUCT_LOCKED',
      `${product.name} is locked for ${product.termDays} days; it rolls into the money fund at maturity and cannot be redeemed early`,
      { productId: product.id },
    );
  await wallets.getWallet(command.userId);
  const now = clock.now();
  const today = businessDateOf(now);
  const confirmDate = kind === 'fast' ? today : (await loadCalendar(db)).datesFor(now).confirmDate;
  const redemption = await db.transaction(async (tx) => {
    if (kind === 'fast') await chargeFastAllowance(tx, command.userId, today, command.shares);
    const holding = await tx.query<{ id: string }>(
      `UPDATE wealth_holdings SET shares = shares - $3,
         frozen_shares = frozen_shares + CASE WHEN $4 = 'normal' THEN $3::int8 ELSE 0 END
       WHERE product_id = $1 AND user_id = $2 AND shares >= $3 RETURNING id`,
      [product.id, command.userId, command.shares, kind],
    );
    if (!holding.rows[0]) {
      const held = await tx.query<{ shares: bigint }>(
        'SELECT shares FROM wealth_holdings WHERE product_id = $1 AND user_id = $2',
        [product.id, command.userId],
      );
      throw new MilletError('WEALTH_INSUFFICIENT_SHARES', 'You hold fewer redeemable shares than that', {
        available: formatMinorUnits(held.rows[0]?.shares ?? 0n, 'CNY'),
      });
    }
    const inserted = await tx.query<Row>(
      `INSERT INTO wealth_redemptions
         (id, product_id, holding_id, user_id, kind, shares, status, ordered_at, ordered_date, confirm_date)
       VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9) RETURNING *`,
      [
        command.id,
        product.id,
        holding.rows[0].id,
        command.userId,
        kind,
        command.shares,
        now,
        today,
        confirmDate,
      ],
    );
    return fromRow(inserted.rows[0]!);
  });
  return kind === 'fast' ? payRedemption(db, ledger, wallets, redemption, now) : redemption;
}

async function chargeFastAllowance(
  tx: Queryable,
  userId: string,
  date: string,
  amount: bigint,
): Promise<void> {
  const charged = await tx.query(
    `INSERT INTO wealth_fast_redemption_usage AS u (user_id, business_date, amount)
     SELECT $1, $2, $3::int8 WHERE $3::int8 <= $4::int8
     ON CONFLICT (user_id, business_date) DO UPDATE SET amount = u.amount + excluded.amount
       WHERE u.amount + excluded.amount <= $4::int8
     RETURNING amount`,
    [userId, date, amount, FAST_REDEMPTION_DAILY_CAP],
  );
  if (charged.rowCount === 0) {
    const used = await tx.query<{ amount: bigint }>(
      'SELECT amount FROM wealth_fast_redemption_usage WHERE user_id = $1 AND business_date = $2',
      [userId, date],
    );
    const remaining = FAST_REDEMPTION_DAILY_CAP - (used.rows[0]?.amount ?? 0n);
    throw new MilletError(
      'WEALTH_FAST_REDEMPTION_LIMIT_EXCEEDED',
      `Fast redemption is limited to 10000.00 CNY a day; ${formatMinorUnits(remaining, 'CNY')} CNY is left today. Use a normal redemption (next trading day, no limit) for more.`,
      {
        limit: formatMinorUnits(FAST_REDEMPTION_DAILY_CAP, 'CNY'),
        remaining: formatMinorUnits(remaining, 'CNY'),
      },
    );
  }
}

/**
 * Moves a redemption's money: shares cancelled (holders' omnibus → issued) and CNY custody → the
 * user's wallet, one entry whose id is derived from the redemption's, so repeating it posts once.
 */
export async function payRedemption(
  db: Database,
  ledger: Ledger,
  wallets: WealthWallets,
  redemption: Redemption,
  at: Date,
  paidOn?: string,
): Promise<Redemption> {
  const accounts = productAccounts(redemption.productId);
  const wallet = await wallets.getWallet(redemption.userId);
  await ledger.postEntry({
    id: derivedId('wealth.redemption', redemption.id),
    legs: [
      { accountId: accounts.holderShares, side: 'debit', amount: redemption.shares },
      { accountId: accounts.sharesIssued, side: 'credit', amount: redemption.shares },
      { accountId: accounts.custody, side: 'debit', amount: redemption.shares },
      { accountId: wallet.ledgerAccountId, side: 'credit', amount: redemption.shares },
    ],
    metadata: { wealth_redemption_id: redemption.id, kind: redemption.kind },
  });
  // Only the update that marks it paid releases a normal redemption's frozen shares: once.
  return db.transaction(async (tx) => {
    const updated = await tx.query<Row & { holding_id: string }>(
      `UPDATE wealth_redemptions SET status = 'paid', paid_at = $2, paid_on = $3
       WHERE id = $1 AND status = 'pending' RETURNING *`,
      [redemption.id, at, paidOn ?? redemption.confirmDate],
    );
    const row = updated.rows[0];
    if (!row) {
      const current = await tx.query<Row>('SELECT * FROM wealth_redemptions WHERE id = $1', [redemption.id]);
      return fromRow(current.rows[0]!);
    }
    if (row.kind === 'normal')
      await tx.query('UPDATE wealth_holdings SET frozen_shares = frozen_shares - $2 WHERE id = $1', [
        row.holding_id,
        row.shares,
      ]);
    return fromRow(row);
  });
}

export async function listRedemptions(db: Queryable, userId: string, limit = 50): Promise<Redemption[]> {
  const result = await db.query<Row>(
    'SELECT * FROM wealth_redemptions WHERE user_id = $1 ORDER BY ordered_at DESC, id DESC LIMIT $2',
    [userId, limit],
  );
  return result.rows.map(fromRow);
}
