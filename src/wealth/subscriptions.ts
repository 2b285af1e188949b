import { MilletError, derivedId, type Clock } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import { addDays } from '../jobs/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { loadCalendar } from './holidays.ts';
import { getProduct, productAccounts, type ProductKind } from './products.ts';
import type { WealthWallets } from './wallets.ts';

export interface SubscribeCommand {
  id: string;
  userId: string;
  productId: string;
  /** Fen; NAV 1.00, so the same number of 1/100 shares once confirmed. */
  amount: bigint;
}

export type SubscriptionStatus = 'pending' | 'confirmed' | 'matured';

export interface Subscription {
  id: string;
  productId: string;
  productKind: ProductKind;
  userId: string;
  amount: bigint;
  status: SubscriptionStatus;
  orderedAt: Date;
  tradeDate: string;
  /** Shares confirmed (money fund) or value date (fixed-term): earning from this day. */
  confirmDate: string;
  /** Fixed-term: the day principal and interest roll into the money fund. */
  maturityDate: string | null;
  /** Fixed-term, once matured: the interest paid, fen. */
  interest: bigint | null;
}

interface Row {
  id: string;
  product_id: string;
  kind: ProductKind;
  user_id: string;
  amount: bigint;
  status: SubscriptionStatus;
  ordered_at: Date;
  trade_date: string;
  confirm_date: string;
  maturity_date: string | null;
  interest: bigint | null;
}

const fromRow = (r: Row): Subscription => ({
  id: r.id,
  productId: r.product_id,
  productKind: r.kind,
  userId: r.user_id,
  amount: r.amount,
  status: r.status,
  orderedAt: r.ordered_at,
  tradeDate: r.trade_date,
  confirmDate: r.confirm_date,
  maturityDate: r.maturity_date,
  interest: r.interest,
});

const select = `SELECT s.*, p.kind FROM wealth_subscriptions s JOIN wealth_products p ON p.id = s.product_id`;

/**
 * Buys a product by amount. The money moves wallet → the product's custody account at once (entry
 * id derived from the subscription id, so a retry posts once); the subscription stays pending until
 * its confirmation day (15:00 cut-off, trading calendar), when the close issues the shares.
 */
export async function subscribe(
  db: Database,
  ledger: Ledger,
  clock: Clock,
  wallets: WealthWallets,
  command: SubscribeCommand,
): Promise<Subscription> {
  const existing = await db.query<Row>(`${select} WHERE s.id = $1`, [command.id]);
  if (existing.rows[0]) return checkSame(fromRow(existing.rows[0]), command);
  if (command.amount <= 0n)
    throw new MilletError('AMOUNT_INVALID', 'amount must be positive', { field: 'amount' });
  const product = await getProduct(db, command.productId);
  const wallet = await wallets.getWallet(command.userId);
  const orderedAt = clock.now();
  const dates = (await loadCalendar(db)).datesFor(orderedAt);
  const maturityDate = product.kind === 'fixed_term' ? addDays(dates.confirmDate, product.termDays!) : null;
  await ledger.transfer({
    id: derivedId('wealth.subscription', command.id),
    debitAccountId: wallet.ledgerAccountId,
    creditAccountId: productAccounts(product.id).custody,
    amount: command.amount,
    metadata: { wealth_subscription_id: command.id, product_id: product.id },
  });
  await db.query(
    `INSERT INTO wealth_subscriptions
       (id, product_id, user_id, amount, status, ordered_at, trade_date, confirm_date, maturity_date)
     VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
    [
      command.id,
      product.id,
      command.userId,
      command.amount,
      orderedAt,
      dates.tradeDate,
      dates.confirmDate,
      maturityDate,
    ],
  );
  return getSubscription(db, command.id, command.userId);
}

function checkSame(s: Subscription, command: SubscribeCommand): Subscription {
  if (s.userId !== command.userId || s.productId !== command.productId || s.amount !== command.amount)
    throw new MilletError('ENTRY_ID_CONFLICT', `subscription ${command.id} exists with other fields`, {
      id: command.id,
    });
  return s;
}

export async function getSubscription(db: Queryable, id: string, userId?: string): Promise<Subscription> {
  const result = await db.query<Row>(`${select} WHERE s.id = $1`, [id]);
  const row = result.rows[0];
  if (!row || (userId !== undefined && row.user_id !== userId))
    throw new MilletError('NOT_FOUND', `No subscription ${id}`, { id });
  return fromRow(row);
}

/** The user's subscriptions that are not finished: money funds pending, fixed-term until matured. */
export async function openSubscriptions(db: Queryable, userId: string): Promise<Subscription[]> {
  const result = await db.query<Row>(
    `${select} WHERE s.user_id = $1 AND (s.status = 'pending' OR (p.kind = 'fixed_term' AND s.status = 'confirmed'))
     ORDER BY s.ordered_at, s.id`,
    [userId],
  );
  return result.rows.map(fromRow);
}
