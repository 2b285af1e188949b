import {
  MilletError,
  businessDateOf,
  isMilletError,
  derivedId,
  divRound,
  formatMinorUnits,
  type Clock,
} from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import { addDays } from '../jobs/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { loadCalendar } from './holidays.ts';
import { MAX_DAILY_LOSS } from './daily-rates.ts';
import { INCOME_DIVISOR } from './income-allocation.ts';
import { getProduct, productAccounts, type Product } from './products.ts';
import type { WealthWallets } from './wallets.ts';

/** Fast (T+0) redemption: at most 10,000.00 CNY per user per natural day (Asia/Shanghai). */
export const FAST_REDEMPTION_DAILY_CAP = 1_000_000n;

export type RedemptionKind = 'fast' | 'normal';
export type RedemptionStatus = 'pending' | 'paid' | 'failed';

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
  /**
   * Normal only: shares a negative day took out of this redemption while it was frozen (the holder
   * had no redeemable shares left to lose); it pays `shares − incomeLoss`.
   */
  incomeLoss: bigint;
  /** `failed`: the ledger refused the payout for good; the shares went back to the holding. */
  status: RedemptionStatus;
  /** Failed only: the ledger's refusal (e.g. `INSUFFICIENT_FUNDS`). */
  failureCode: string | null;
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
  income_loss: bigint;
  status: RedemptionStatus;
  failure_code: string | null;
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
  incomeLoss: r.income_loss,
  status: r.status,
  failureCode: r.failure_code,
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
  const existing = await findRedemption(db, command.id);
  if (existing) return repeatRedemption(db, ledger, clock, wallets, kind, command, existing);
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
  let redemption: Redemption;
  try {
    redemption = await db.transaction(async (tx) => {
      // Lock order of every redemption path: the user's day usage row, then the holding (see
      // failRedemption); a fast order charges its allowance before it touches the holding.
      if (kind === 'fast') {
        await chargeFastAllowance(tx, command.userId, today, command.shares);
        await holdBackPendingLoss(tx, product, command.userId, today, command.shares);
      }
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
       VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9) ON CONFLICT (id) DO NOTHING RETURNING *`,
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
      if (!inserted.rows[0]) throw new RedemptionIdTaken();
      return fromRow(inserted.rows[0]);
    });
  } catch (error) {
    // The same id sent twice at once: both passed the look-up above, and the one that lost the
    // insert (or found the shares or the day's allowance already taken by its twin) rolled back.
    // It answers as a retry would, instead of a unique-key violation or a refusal of its own order.
    const twin = await findRedemption(db, command.id);
    if (twin) return repeatRedemption(db, ledger, clock, wallets, kind, command, twin);
    throw error;
  }
  return kind === 'fast'
    ? paidOrRefused(await payRedemption(db, ledger, wallets, redemption, now))
    : redemption;
}

/** A fast redemption answers its order with the payout done, or the refusal that gave the shares back. */
function paidOrRefused(r: Redemption): Redemption {
  if (r.status !== 'failed') return r;
  throw new MilletError(
    'WEALTH_REDEMPTION_FAILED',
    `Redemption ${r.id} could not be paid (${r.failureCode}); its shares are back in your holding`,
    { id: r.id, reason: r.failureCode },
  );
}

/** Rolls back an insert that found the redemption id taken by a concurrent request. */
class RedemptionIdTaken extends Error {}

async function findRedemption(db: Queryable, id: string): Promise<Redemption | null> {
  const result = await db.query<Row>('SELECT * FROM wealth_redemptions WHERE id = $1', [id]);
  return result.rows[0] ? fromRow(result.rows[0]) : null;
}

/** A retry of a redemption id: the same order again returns it (paying a fast one cut short). */
function repeatRedemption(
  db: Database,
  ledger: Ledger,
  clock: Clock,
  wallets: WealthWallets,
  kind: RedemptionKind,
  command: RedeemCommand,
  r: Redemption,
): Promise<Redemption> | Redemption {
  if (
    r.userId !== command.userId ||
    r.productId !== command.productId ||
    r.kind !== kind ||
    r.shares !== command.shares
  )
    throw new MilletError('ENTRY_ID_CONFLICT', `redemption ${command.id} exists with other fields`, {
      id: command.id,
    });
  if (r.status === 'failed') return paidOrRefused(r);
  return r.status === 'pending' && kind === 'fast'
    ? payRedemption(db, ledger, wallets, r, clock.now()).then(paidOrRefused)
    : r;
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
 * Shares owe the income of every day the close has not applied to them yet (it runs after midnight
 * and can be behind), and a fast redemption pays them out at 1.00 now. On a negative day that loss
 * comes out of what is left in the register, so a fast redemption may not leave fewer redeemable
 * shares than the worst loss those days can bring (their basis × |R|, plus the remainder's fen).
 * A day not published yet counts at the worst rate publication allows (MAX_DAILY_LOSS, 0.1%), so
 * fast redemption stays open every night (a holder keeps back about 0.1% until the close) instead
 * of waiting for the rate. A normal redemption keeps nothing back: frozen shares stay in the
 * register and bear the loss.
 */
async function holdBackPendingLoss(
  tx: Queryable,
  product: Product,
  userId: string,
  today: string,
  shares: bigint,
): Promise<void> {
  const yesterday = addDays(today, -1);
  const found = await tx.query<{
    id: string;
    shares: bigint;
    frozen_shares: bigint;
    last_income_date: string | null;
  }>(
    `SELECT id, shares, frozen_shares, last_income_date FROM wealth_holdings
     WHERE product_id = $1 AND user_id = $2 FOR UPDATE`,
    [product.id, userId],
  );
  const holding = found.rows[0];
  if (!holding || (holding.last_income_date !== null && holding.last_income_date >= yesterday)) return;
  // No income applied yet: the shares were confirmed by a close that has not finished, and the
  // holding cannot tell which day; every day since the fund opened is taken as owed.
  const since = holding.last_income_date ?? addDays(businessDateOf(product.createdAt), -1);
  const owedDays = Math.round((Date.parse(yesterday) - Date.parse(since)) / 86_400_000);
  if (owedDays <= 0) return;
  const rates = await tx.query<{ rate: bigint }>(
    `SELECT rate FROM wealth_daily_rates WHERE product_id = $1 AND business_date > $2 AND business_date <= $3`,
    [product.id, since, yesterday],
  );
  const unpublished = Array<bigint>(Math.max(0, owedDays - rates.rows.length)).fill(MAX_DAILY_LOSS);
  const losses = [...rates.rows.filter((r) => r.rate < 0n).map((r) => -r.rate), ...unpublished];
  if (losses.length === 0) return;
  // An upper bound of each owed day's basis (see insertIncome): fast redemptions ordered after `since`.
  const fast = await tx.query<{ shares: bigint }>(
    `SELECT coalesce(sum(shares), 0)::int8 AS shares FROM wealth_redemptions
     WHERE holding_id = $1 AND kind = 'fast' AND ordered_date > $2 AND status <> 'failed'`,
    [holding.id, since],
  );
  const basis = holding.shares + holding.frozen_shares + fast.rows[0]!.shares;
  // Per day: the basis's loss rounded down, plus the fen the largest-remainder share can add.
  const reserve = losses.reduce((sum, rate) => sum + divRound(basis * rate, INCOME_DIVISOR, 'down') + 1n, 0n);
  if (holding.shares - shares < reserve) {
    const available = holding.shares > reserve ? holding.shares - reserve : 0n;
    throw new MilletError(
      'WEALTH_INSUFFICIENT_SHARES',
      `${formatMinorUnits(available, 'CNY')} shares can be redeemed fast now: ${formatMinorUnits(reserve, 'CNY')} stay until the income of ${yesterday} is booked (a normal redemption takes all)`,
      { available: formatMinorUnits(available, 'CNY'), reserved: formatMinorUnits(reserve, 'CNY') },
    );
  }
}

/** Ledger answers that say nothing about whether the entry was posted: the payment is tried again. */
const UNDECIDED = new Set(['LEDGER_UNAVAILABLE', 'DATABASE_UNAVAILABLE']);

/**
 * Moves a redemption's money: shares cancelled (holders' omnibus → issued) and CNY custody → the
 * user's wallet, one entry whose id is derived from the redemption's, so repeating it posts once.
 * Whoever finds it pending pays it: the order itself, a retry of its id, or the close of its
 * confirmation day (a fast one cut short by a crash between its transaction and the ledger).
 * A refusal for good (the ledger keeps a failed id failed, so the entry can never post later)
 * fails the redemption and gives its shares back — instead of leaving them taken and unpaid, and
 * every later close stopping on it; an undecided answer (or any other error) leaves it pending.
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
  const payout = redemption.shares - redemption.incomeLoss;
  const entryId = derivedId('wealth.redemption', redemption.id);
  // A redemption a negative day took whole has nothing left to move (the ledger refuses zero legs).
  if (payout > 0n) {
    try {
      await ledger.postEntry({
        id: entryId,
        legs: [
          { accountId: accounts.holderShares, side: 'debit', amount: payout },
          { accountId: accounts.sharesIssued, side: 'credit', amount: payout },
          { accountId: accounts.custody, side: 'debit', amount: payout },
          { accountId: wallet.ledgerAccountId, side: 'credit', amount: payout },
        ],
        metadata: { wealth_redemption_id: redemption.id, kind: redemption.kind },
      });
    } catch (error) {
      if (!isMilletError(error) || UNDECIDED.has(error.code)) throw error;
      // ENTRY_ID_CONFLICT also comes from an entry posted earlier with other legs (the wallet's
      // account looked up anew): only an id the journal does not hold is refused for good.
      if (await entryPosted(ledger, entryId)) return markPaid(db, redemption, at, paidOn);
      return failRedemption(db, redemption.id, error.code, at);
    }
  }
  return markPaid(db, redemption, at, paidOn);
}

async function entryPosted(ledger: Ledger, entryId: string): Promise<boolean> {
  try {
    await ledger.getEntry(entryId);
    return true;
  } catch (error) {
    if (isMilletError(error) && error.code === 'ENTRY_NOT_FOUND') return false;
    throw error;
  }
}

function markPaid(db: Database, redemption: Redemption, at: Date, paidOn?: string): Promise<Redemption> {
  // Only the update that marks it paid releases a normal redemption's frozen shares: once.
  return db.transaction(async (tx) => {
    const updated = await tx.query<Row & { holding_id: string }>(
      `UPDATE wealth_redemptions SET status = 'paid', paid_at = $2, paid_on = $3
       WHERE id = $1 AND status = 'pending' RETURNING *`,
      [redemption.id, at, paidOn ?? redemption.confirmDate],
    );
    const row = updated.rows[0];
    if (!row) return currentRedemption(tx, redemption.id);
    if (row.kind === 'normal')
      await tx.query('UPDATE wealth_holdings SET frozen_shares = frozen_shares - $2 WHERE id = $1', [
        row.holding_id,
        row.shares - row.income_loss,
      ]);
    return fromRow(row);
  });
}

/**
 * Gives a refused redemption's shares back, in the transaction that marks it failed (so once): a
 * fast one's to the redeemable shares and its amount to the allowance of its day, a normal one's
 * (what a negative day left of them) from frozen to redeemable. The omnibus account never lost
 * them, as the entry did not post, so the register equals it again.
 */
function failRedemption(db: Database, id: string, code: string, at: Date): Promise<Redemption> {
  return db.transaction(async (tx) => {
    const updated = await tx.query<Row & { holding_id: string; ordered_date: string }>(
      `UPDATE wealth_redemptions SET status = 'failed', failure_code = $2, failed_at = $3
       WHERE id = $1 AND status = 'pending' RETURNING *`,
      [id, code, at],
    );
    const row = updated.rows[0];
    if (!row) return currentRedemption(tx, id);
    // Lock order, as in redeem: the day's usage row, then the holding. The other way round, a
    // refusal and a fast order of the same user at once deadlock (each waits on the other's row).
    if (row.kind === 'fast')
      await tx.query(
        `UPDATE wealth_fast_redemption_usage SET amount = amount - $3
         WHERE user_id = $1 AND business_date = $2`,
        [row.user_id, row.ordered_date, row.shares],
      );
    const back = row.shares - row.income_loss;
    await tx.query(
      `UPDATE wealth_holdings SET shares = shares + $2,
         frozen_shares = frozen_shares - CASE WHEN $3 = 'normal' THEN $2::int8 ELSE 0 END
       WHERE id = $1`,
      [row.holding_id, back, row.kind],
    );
    return fromRow(row);
  });
}

async function currentRedemption(db: Queryable, id: string): Promise<Redemption> {
  const current = await db.query<Row>('SELECT * FROM wealth_redemptions WHERE id = $1', [id]);
  return fromRow(current.rows[0]!);
}

export async function listRedemptions(db: Queryable, userId: string, limit = 50): Promise<Redemption[]> {
  const result = await db.query<Row>(
    'SELECT * FROM wealth_redemptions WHERE user_id = $1 ORDER BY ordered_at DESC, id DESC LIMIT $2',
    [userId, limit],
  );
  return result.rows.map(fromRow);
}
