import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  MilletError,
  derivedId,
  errorCodes,
  isMilletError,
  isUuid,
  newId,
  type ErrorCode,
} from '../core/index.ts';
import { loadMigrations, type Migration, type Queryable } from '../db/index.ts';
import type { Hold } from '../ledger/index.ts';
import type { Payment } from '../merchants/index.ts';
import { serviceOrderDebts } from './debts.ts';
import type {
  DepositDecision,
  PayPoints,
  PayPointsOptions,
  ServiceOrder,
  ServiceOrderPayment,
  ServiceOrderStatus,
} from './types.ts';

export const paypointsMigrations: Migration[] = loadMigrations(
  'paypoints',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);

/** The checkout method that pays a final fee from the deposit held at acceptance. */
export const DEPOSIT_METHOD = 'paypoints_deposit';
export const DEFAULT_MAX_DAYS = 30;
const DEFAULT_METHOD = 'balance';
/** Errors that say "not known yet" rather than "refused": the step is retried, nothing is decided. */
const UNDECIDED = new Set(['LEDGER_UNAVAILABLE', 'DATABASE_UNAVAILABLE']);

interface Row {
  id: string;
  merchant_id: string;
  merchant_reference: string;
  description: string;
  currency: string;
  risk_amount: bigint;
  score_bar: number;
  max_days: number;
  status: ServiceOrderStatus;
  user_id: string | null;
  method: string | null;
  deposit: 'waived' | 'held' | null;
  decision: DepositDecision | null;
  score: number | null;
  score_id: string | null;
  deposit_hold_id: string | null;
  final_fee: bigint | null;
  deposit_used: bigint;
  charged: bigint;
  debt: bigint;
  debt_payment_id: string | null;
  debt_attempt_id: string | null;
  debt_attempt_at: Date | null;
  created_at: Date;
  accepted_at: Date | null;
  completed_at: Date | null;
  debt_paid_at: Date | null;
  cancelled_at: Date | null;
  updated_at: Date;
}

/** The order as its own row has it; what was refunded of its payments is the merchants' record. */
type OwnView = Omit<ServiceOrder, 'paid' | 'refunded' | 'net' | 'payments'>;

const fromRow = (r: Row): OwnView => ({
  id: r.id,
  merchantId: r.merchant_id,
  merchantReference: r.merchant_reference,
  description: r.description,
  currency: r.currency,
  riskAmount: r.risk_amount,
  scoreBar: r.score_bar,
  maxDays: r.max_days,
  status: r.status,
  userId: r.user_id,
  method: r.method,
  deposit: r.deposit,
  decision: r.decision,
  score: r.score,
  scoreId: r.score_id,
  depositHoldId: r.deposit_hold_id,
  finalFee: r.final_fee,
  depositUsed: r.deposit_used,
  charged: r.charged,
  debt: r.debt,
  debtPaymentId: r.debt_payment_id,
  createdAt: r.created_at,
  acceptedAt: r.accepted_at,
  completedAt: r.completed_at,
  debtPaidAt: r.debt_paid_at,
  cancelledAt: r.cancelled_at,
  updatedAt: r.updated_at,
});

/**
 * The merchant payments that paid the order's fee, as the order counts them: the deposit's and the
 * method's parts once the completion recorded them, and the payment that paid the debt.
 */
function paymentsOf(r: Row): Omit<ServiceOrderPayment, 'refunded'>[] {
  const out: Omit<ServiceOrderPayment, 'refunded'>[] = [];
  if (r.deposit_used > 0n)
    out.push({ id: ids.payment(r.id, 'deposit'), part: 'deposit', amount: r.deposit_used });
  if (r.charged > 0n) out.push({ id: ids.payment(r.id, 'fee'), part: 'fee', amount: r.charged });
  if (r.debt_payment_id !== null) out.push({ id: r.debt_payment_id, part: 'debt', amount: r.debt });
  return out;
}

/** A debt attempt's claim with no payment after this long is taken to have crashed before paying. */
const ABANDONED_CLAIM_MS = 5 * 60_000;
/**
 * An acceptance still `accepting` this long after it began lost its request (a crash between the
 * deposit hold and the activation); a live one takes well under a second.
 */
export const ABANDONED_ACCEPTANCE_MS = 10 * 60_000;

const debtPaid = (row: Row) =>
  new MilletError('SERVICE_ORDER_STATE', `Service order ${row.id} has no unpaid debt`, {
    id: row.id,
    status: row.status,
  });

const notFound = (id: string) => new MilletError('SERVICE_ORDER_NOT_FOUND', `No service order ${id}`, { id });

const wrongState = (row: Row, action: string) =>
  new MilletError('SERVICE_ORDER_STATE', `Service order ${row.id} is ${row.status}: it cannot be ${action}`, {
    id: row.id,
    status: row.status,
  });

/** A payment step that did not go through, with why. */
type Refused = { status: 'failed'; error: MilletError };

/** A payment step refused because the merchant is suspended (nothing of it was recorded). */
const suspendedMerchant = (paid: Payment | Refused): paid is Refused =>
  'error' in paid && paid.error.code === 'MERCHANT_SUSPENDED';

/** Ids of the records a service order leaves in other modules, derived so retries find them. */
const ids = {
  holdVoid: (holdId: string) => derivedId('paypoints.deposit-void', holdId),
  holdPost: (paymentId: string) => derivedId('paypoints.deposit-post', paymentId),
  order: (orderId: string, part: string) => derivedId('paypoints.payment-order', `${orderId}:${part}`),
  payment: (orderId: string, part: string) => derivedId('paypoints.payment', `${orderId}:${part}`),
};

/**
 * Pay Points service orders (DESIGN §2.3): a merchant offers a service with a risk amount (the
 * deposit it would take) and a score bar; the user accepts and is scored; the deposit is waived or
 * held on the wallet; the merchant completes with the final fee, which the held deposit and then
 * the user's checkout method pay, as merchant payments (so settlement, fees, refunds and webhooks
 * apply as to any payment); what cannot be paid is a debt that lowers the score until paid.
 */
export function createPayPoints(options: PayPointsOptions): PayPoints {
  const { db, clock, ledger, wallet, merchants, scores, users } = options;
  const debtSource = serviceOrderDebts(db);

  /**
   * Orders as shown: their own record and what the merchant has refunded of their payments, read
   * from the merchants' refunds (one query for a page), so a refund shows on the order at once.
   */
  async function views(rows: readonly Row[]): Promise<ServiceOrder[]> {
    const parts = rows.map(paymentsOf);
    const paymentIds = parts.flat().map((p) => p.id);
    const refunded = paymentIds.length > 0 ? await merchants.refundedAmounts(paymentIds) : new Map();
    // One ledger query for the page's open deposits (before, one per open order).
    const asked = rows.filter(asksLedger).map((row) => row.deposit_hold_id!);
    const holds = asked.length > 0 ? await ledger.getHolds(asked) : new Map<string, Hold>();
    return rows.map((row, i) => {
      const payments = parts[i]!.map((p) => ({ ...p, refunded: refunded.get(p.id) ?? 0n }));
      const paid = payments.reduce((sum, p) => sum + p.amount, 0n);
      const back = payments.reduce((sum, p) => sum + p.refunded, 0n);
      const deposit = depositNow(row, holds);
      return { ...fromRow(row), deposit, paid, refunded: back, net: paid - back, payments };
    });
  }

  /** An order whose held deposit only the ledger can say the state of (see `depositNow`). */
  const asksLedger = (row: Row) =>
    row.deposit === 'held' && (row.status === 'active' || row.status === 'completing');

  /**
   * Where a held deposit is now. The row records the decision at acceptance; the ledger's expiry
   * job releases a hold past its timeout without telling this module, so an order still open asks
   * the ledger (before, an active order showed `held` after its deposit was back in the wallet).
   * An ended order's own record says it: its completion posted the hold for `deposit_used`, and
   * otherwise the completion or the cancel voided it (or left it to the expiry job, seconds away).
   */
  function depositNow(row: Row, holds: ReadonlyMap<string, Hold>): ServiceOrder['deposit'] {
    if (row.deposit !== 'held') return row.deposit;
    if (row.status === 'completed' || row.status === 'unpaid')
      return row.deposit_used > 0n ? 'used' : 'released';
    if (row.status === 'cancelled') return 'released';
    if (!asksLedger(row)) return 'held';
    const hold = holds.get(row.deposit_hold_id!);
    // An open order's hold was placed before it became active: one missing is a broken record,
    // refused as the single read refused it rather than shown as money held.
    if (!hold)
      throw new MilletError('HOLD_NOT_FOUND', `Hold ${row.deposit_hold_id} does not exist`, {
        holdId: row.deposit_hold_id,
      });
    if (hold.status === 'posted') return 'used';
    return hold.status === 'pending' ? 'held' : 'released';
  }

  const view = async (row: Row): Promise<ServiceOrder> => (await views([row]))[0]!;

  async function find(q: Queryable, id: string, lock = false): Promise<Row | undefined> {
    if (!isUuid(id)) return undefined;
    const r = await q.query<Row>(
      `SELECT * FROM paypoints_service_orders WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
      [id],
    );
    return r.rows[0];
  }

  async function load(id: string, scope: { merchantId?: string; userId?: string } = {}): Promise<Row> {
    const row = await find(db, id);
    if (!row) throw notFound(id);
    if (scope.merchantId !== undefined && row.merchant_id !== scope.merchantId) throw notFound(id);
    // A user sees an order nobody has taken yet (to decide whether to take it) and their own.
    if (scope.userId !== undefined && row.user_id !== scope.userId && row.status !== 'created')
      throw notFound(id);
    return row;
  }

  async function update(id: string, sets: string, params: unknown[], whereStatus: ServiceOrderStatus[]) {
    const r = await db.query<Row>(
      `UPDATE paypoints_service_orders SET ${sets}, updated_at = $2
       WHERE id = $1 AND status = ANY($3::text[]) RETURNING *`,
      [id, clock.now(), whereStatus, ...params],
    );
    return r.rows[0];
  }

  /** The score decides the deposit. No consent, no score: the deposit is held, never refused. */
  async function decide(
    row: Row,
    userId: string,
  ): Promise<{ decision: DepositDecision; score: number | null; scoreId: string | null }> {
    if (!(await scores.getActiveConsent(userId)))
      return { decision: 'no_consent', score: null, scoreId: null };
    try {
      const s = await scores.score(userId);
      const decision = s.score >= row.score_bar ? 'score_cleared_bar' : 'score_below_bar';
      return { decision, score: s.score, scoreId: s.id };
    } catch (error) {
      if (!isMilletError(error)) throw error;
      if (error.code === 'CONSENT_REQUIRED') return { decision: 'no_consent', score: null, scoreId: null };
      if (error.code === 'CREDIT_APPLICATION_REQUIRED')
        return { decision: 'no_score', score: null, scoreId: null };
      if (error.code === 'IDENTITY_NOT_VERIFIED' || error.code === 'CREDIT_UNDERAGE')
        return { decision: 'not_eligible', score: null, scoreId: null };
      throw error;
    }
  }

  /**
   * Voids the deposit hold. A hold past its timeout is the ledger's expiry job's to release (it
   * runs every few seconds), and one resolved meanwhile has nothing left to release: both are done.
   */
  async function releaseDeposit(holdId: string, orderId: string): Promise<void> {
    try {
      await ledger.voidHold({ id: ids.holdVoid(holdId), holdId, metadata: { serviceOrderId: orderId } });
    } catch (error) {
      if (isMilletError(error) && (error.code === 'HOLD_EXPIRED' || error.code === 'HOLD_NOT_PENDING'))
        return;
      throw error;
    }
  }

  /** Places the deposit hold (idempotent by its derived id) and activates the order. */
  async function holdDeposit(row: Row): Promise<Row> {
    const userWallet = await wallet.getWallet(row.user_id!);
    const merchant = await merchants.getMerchant(row.merchant_id);
    try {
      await ledger.placeHold({
        id: row.deposit_hold_id!,
        debitAccountId: userWallet.ledgerAccountId,
        // Posting the hold pays the merchant directly (through the deposit checkout method).
        creditAccountId: merchant.ledgerAccountId,
        amount: row.risk_amount,
        timeoutSeconds: row.max_days * 86_400,
        metadata: { serviceOrderId: row.id, merchantId: row.merchant_id, kind: 'paypoints_deposit' },
      });
    } catch (error) {
      if (isMilletError(error) && !UNDECIDED.has(error.code)) {
        // The deposit cannot be held (not enough money): the order is free for another try.
        await update(
          row.id,
          `status = 'created', user_id = NULL, method = NULL, deposit = NULL, decision = NULL, score = NULL,
           score_id = NULL, deposit_hold_id = NULL, accepted_at = NULL`,
          [],
          ['accepting'],
        );
      }
      throw error;
    }
    const active = await update(row.id, `status = 'active'`, [], ['accepting']);
    if (active) return active;
    // Cancelled while the hold was being placed: release it (the cancel may have looked too early).
    const now = await load(row.id);
    if (now.status === 'cancelled' && (await ledger.getHold(row.deposit_hold_id!)).status === 'pending')
      await releaseDeposit(row.deposit_hold_id!, row.id);
    return now;
  }

  /**
   * Makes `paymentId` the one attempt that may pay the order's debt, before it pays: attempts sent
   * at once with different ids would otherwise each pay it. Another attempt's claim is settled first
   * by what became of its payment: succeeded (the order is completed with it: a crash after the
   * payment), failed (its claim goes), pending (the bank decides; this attempt is refused), or none
   * yet (in flight; taken over only once it is older than `ABANDONED_CLAIM_MS`, a crash before
   * paying). Returns the order, completed already when `paymentId`'s own payment went through.
   */
  async function claimDebt(row: Row, paymentId: string): Promise<Row> {
    for (let round = 0; round < 3; round++) {
      const now = clock.now();
      const claimed = await db.query<Row>(
        `UPDATE paypoints_service_orders SET debt_attempt_id = $2, debt_attempt_at = coalesce(debt_attempt_at, $3)
          WHERE id = $1 AND status = 'unpaid' AND (debt_attempt_id IS NULL OR debt_attempt_id = $2)
          RETURNING *`,
        [row.id, paymentId, now],
      );
      if (claimed.rows[0]) return claimed.rows[0];
      const current = (await find(db, row.id))!;
      if (current.status === 'completed' && current.debt_payment_id === paymentId) return current;
      if (current.status !== 'unpaid') throw debtPaid(current);
      if (current.debt_attempt_id === null) continue;
      const other = current.debt_attempt_id;
      const found = await merchants.getPayment(other).catch((error: unknown) => {
        if (isMilletError(error) && error.code === 'PAYMENT_NOT_FOUND') return undefined;
        throw error;
      });
      // The attempt id is the client's: it may name a payment of something else (another order's,
      // even one that succeeded). Only a payment of this debt's own order can settle the claim; the
      // other one's attempt is refused when it pays (the payment id is taken), so its claim goes.
      const foreign = found !== undefined && found.orderId !== ids.order(row.id, `debt:${other}`);
      const payment = foreign ? undefined : found;
      if (payment?.status === 'succeeded') {
        await debtPaidBy(row.id, other);
        throw debtPaid((await find(db, row.id))!);
      }
      const abandoned =
        payment === undefined && now.getTime() - current.debt_attempt_at!.getTime() > ABANDONED_CLAIM_MS;
      if (foreign || payment?.status === 'failed' || abandoned) {
        await releaseDebtClaim(row.id, other);
        continue;
      }
      throw new MilletError(
        'SERVICE_ORDER_STATE',
        `Another payment of service order ${row.id}'s debt is in progress; try again when it has finished`,
        { id: row.id, status: current.status },
      );
    }
    throw new MilletError('SERVICE_ORDER_STATE', `Service order ${row.id}'s debt is being paid`, {
      id: row.id,
    });
  }

  /** The unpaid order completed by the payment that paid its debt (none if it no longer was unpaid). */
  function debtPaidBy(id: string, paymentId: string): Promise<Row | undefined> {
    return update(
      id,
      `status = 'completed', debt_payment_id = $4, debt_paid_at = $2, debt_attempt_id = NULL,
       debt_attempt_at = NULL`,
      [paymentId],
      ['unpaid'],
    );
  }

  async function releaseDebtClaim(id: string, paymentId: string): Promise<void> {
    await db.query(
      `UPDATE paypoints_service_orders SET debt_attempt_id = NULL, debt_attempt_at = NULL
        WHERE id = $1 AND debt_attempt_id = $2`,
      [id, paymentId],
    );
  }

  /**
   * Checked when the user picks the method, not at completion: an order keeps only the method's
   * name, so a method unknown or needing details (a card token, an instalment plan) would fail the
   * fee there and turn it into a debt, lowering the score, although the user could pay.
   */
  function requireChargeableMethod(method: string): void {
    if (!merchants.paymentMethods().includes(method))
      throw new MilletError('PAYMENT_METHOD_UNKNOWN', `Unknown payment method "${method}"`, {
        method,
        available: merchants.paymentMethods().filter((name) => name !== DEPOSIT_METHOD),
      });
    try {
      merchants.validatePaymentMethod(method, {});
    } catch (error) {
      if (!isMilletError(error)) throw error;
      throw new MilletError(
        'VALIDATION_FAILED',
        `Service orders cannot be paid with "${method}": it needs details an order does not keep`,
        { field: 'method', method },
      );
    }
  }

  /** A merchant payment of `amount` for one part of the fee, through the merchants module. */
  async function pay(
    row: Row,
    part: string,
    amount: bigint,
    method: string,
    details: Record<string, string>,
    paymentId = ids.payment(row.id, part),
  ): Promise<Payment | Refused> {
    const orderId = ids.order(row.id, part);
    try {
      await merchants.createOrder({
        id: orderId,
        merchantId: row.merchant_id,
        merchantReference: `paypoints:${orderId}`,
        amount,
        description:
          `Service order ${row.merchant_reference}: ${part === 'deposit' ? 'fee paid from the deposit' : 'fee'}`.slice(
            0,
            256,
          ),
        expiresInSeconds: 86_400,
      });
    } catch (error) {
      // A suspended merchant takes no new orders, but a payment begun before the suspension is
      // still the merchant's (as in the merchants module): its retry goes on to the replay below.
      if (!isMilletError(error) || error.code !== 'MERCHANT_SUSPENDED') throw error;
      const begun = await merchants.getPayment(paymentId).then(
        () => true,
        (lookup: unknown) => {
          if (isMilletError(lookup) && lookup.code === 'PAYMENT_NOT_FOUND') return false;
          throw lookup;
        },
      );
      if (!begun) return { status: 'failed', error };
    }
    try {
      const payment = await merchants.payOrder({
        id: paymentId,
        orderId,
        userId: row.user_id!,
        method,
        details,
      });
      if (payment.status !== 'failed') return payment;
      // A retry of a payment that failed before: it stays failed, with its reason.
      const code = (errorCodes as readonly string[]).includes(payment.failureCode ?? '')
        ? (payment.failureCode as ErrorCode)
        : 'INTERNAL';
      return {
        status: 'failed',
        error: new MilletError(code, payment.failureMessage ?? 'The payment failed'),
      };
    } catch (error) {
      if (isMilletError(error) && !UNDECIDED.has(error.code)) return { status: 'failed', error };
      throw error;
    }
  }

  /**
   * A completion whose merchant was suspended before any of the fee was paid: payment orders refuse
   * the merchant, and the user should neither wait on a reactivation that may never come with the
   * deposit frozen nor owe a debt they cannot pay (paying it is refused too). The order ends
   * cancelled, the deposit released, nothing charged; the completion answers MERCHANT_SUSPENDED.
   */
  async function endSuspended(row: Row, error: MilletError): Promise<never> {
    // Released first: a crash before the status update leaves the order `completing`, and the retry
    // finds the deposit gone back and ends here again.
    if (row.deposit === 'held' && (await ledger.getHold(row.deposit_hold_id!)).status === 'pending')
      await releaseDeposit(row.deposit_hold_id!, row.id);
    await update(row.id, `status = 'cancelled', cancelled_at = $2`, [], ['completing']);
    throw error;
  }

  const pastTimeout = (hold: { expiresAt: Date | null }) =>
    hold.expiresAt !== null && hold.expiresAt.getTime() <= clock.now().getTime();

  /**
   * A held deposit past its timeout can neither pay the fee nor be voided (the ledger leaves it to
   * its expiry job, seconds away), and until the job runs it is still out of the wallet's available
   * balance: charging the whole fee with the method now could fail for want of it and leave a debt
   * (a failed payment stays failed). The completion waits instead: the order stays `completing`
   * with nothing charged, and a retry once the deposit is back charges the fee with the method.
   */
  const depositReleasing = (row: Row) =>
    new MilletError(
      'SERVICE_ORDER_DEPOSIT_RELEASING',
      `Service order ${row.id}'s deposit reached its timeout and is being released to the wallet; retry the completion in a few seconds`,
      { id: row.id, holdId: row.deposit_hold_id },
    );

  /** Drives a `completing` order to `completed` or `unpaid`; every step is idempotent. */
  async function settle(row: Row): Promise<Row> {
    const fee = row.final_fee!;
    let depositUsed = 0n;
    if (row.deposit === 'held') {
      const hold = await ledger.getHold(row.deposit_hold_id!);
      const use = fee < row.risk_amount ? fee : row.risk_amount;
      if (hold.status === 'pending' && use > 0n && pastTimeout(hold)) throw depositReleasing(row);
      if (hold.status === 'pending' && use === 0n) await releaseDeposit(hold.id, row.id);
      else if ((hold.status === 'pending' || hold.status === 'posted') && use > 0n) {
        const paid = await pay(row, 'deposit', use, DEPOSIT_METHOD, { serviceOrderId: row.id });
        if (paid.status === 'succeeded') depositUsed = use;
        else if (paid.status === 'pending') return row;
        else if (suspendedMerchant(paid)) return endSuspended(row, paid.error);
        else {
          // The hold could not be posted: release it if still pending (one that reached its timeout
          // meanwhile is the expiry job's, as above).
          const now = await ledger.getHold(hold.id);
          if (now.status === 'pending') {
            if (pastTimeout(now)) throw depositReleasing(row);
            await releaseDeposit(now.id, row.id);
          }
        }
      }
      // voided or expired: the deposit is gone back to the wallet; the method pays all of the fee.
    }
    const rest = fee - depositUsed;
    let charged = 0n;
    let debt = 0n;
    if (rest > 0n) {
      const paid = await pay(row, 'fee', rest, row.method ?? DEFAULT_METHOD, {});
      if (paid.status === 'pending') return row;
      if (paid.status === 'succeeded') charged = rest;
      else if (!suspendedMerchant(paid)) debt = rest;
      else if (depositUsed === 0n) return endSuspended(row, paid.error);
      // Suspended between the deposit's part and this one: the merchant keeps what the deposit
      // paid; the rest is not charged, and not a debt the user could not pay either.
    }
    const done = await update(
      row.id,
      `status = $4, deposit_used = $5, charged = $6, debt = $7`,
      [debt > 0n ? 'unpaid' : 'completed', depositUsed, charged, debt],
      ['completing'],
    );
    return done ?? (await load(row.id));
  }

  /** The deposit checkout method: posts the order's hold for the part of the fee it covers. */
  merchants.registerPaymentMethod(DEPOSIT_METHOD, {
    validate(details) {
      if (!details.serviceOrderId || !isUuid(details.serviceOrderId))
        throw new MilletError('VALIDATION_FAILED', `${DEPOSIT_METHOD} is only used by service orders`, {
          field: 'method',
        });
    },
    async collect(payment) {
      const row = await find(db, payment.details.serviceOrderId ?? '');
      if (
        !row ||
        row.status !== 'completing' ||
        row.deposit !== 'held' ||
        row.user_id !== payment.userId ||
        row.merchant_id !== payment.merchantId ||
        payment.paymentId !== ids.payment(row.id, 'deposit') ||
        payment.amount > row.risk_amount
      )
        throw new MilletError('VALIDATION_FAILED', `${DEPOSIT_METHOD} is only used by service orders`, {
          field: 'method',
        });
      await ledger.postHold({
        id: ids.holdPost(payment.paymentId),
        holdId: row.deposit_hold_id!,
        amount: payment.amount,
        metadata: { paymentId: payment.paymentId, serviceOrderId: row.id, method: DEPOSIT_METHOD },
      });
      return { status: 'succeeded' };
    },
  });

  const service: PayPoints = {
    async createServiceOrder(c) {
      if (!isUuid(c.id) || !isUuid(c.merchantId))
        throw new MilletError('VALIDATION_FAILED', 'id and merchant id must be UUIDs', { field: 'id' });
      if (c.riskAmount <= 0n) throw new MilletError('AMOUNT_INVALID', 'risk_amount must be positive');
      if (!Number.isInteger(c.scoreBar) || c.scoreBar < 350 || c.scoreBar > 950)
        throw new MilletError('VALIDATION_FAILED', 'score_bar must be a whole score from 350 to 950', {
          field: 'score_bar',
        });
      const maxDays = c.maxDays ?? DEFAULT_MAX_DAYS;
      if (!Number.isInteger(maxDays) || maxDays < 1 || maxDays > 365)
        throw new MilletError('VALIDATION_FAILED', 'max_days must be 1–365', { field: 'max_days' });
      const reference = c.merchantReference.trim();
      const description = c.description.trim();
      if (!reference || reference.length > 64 || !description || description.length > 256)
        throw new MilletError(
          'VALIDATION_FAILED',
          'merchant_reference (1–64) and description (1–256) are required',
          {
            field: 'merchant_reference',
          },
        );
      const merchant = await merchants.getMerchant(c.merchantId);
      if (merchant.status !== 'active')
        throw new MilletError('MERCHANT_SUSPENDED', 'A suspended merchant cannot create service orders');
      const now = clock.now();
      const inserted = await db.query<Row>(
        `INSERT INTO paypoints_service_orders (id, merchant_id, merchant_reference, description, currency,
           risk_amount, score_bar, max_days, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'created', $9, $9) ON CONFLICT DO NOTHING RETURNING *`,
        [
          c.id,
          c.merchantId,
          reference,
          description,
          merchant.currency,
          c.riskAmount,
          c.scoreBar,
          maxDays,
          now,
        ],
      );
      if (inserted.rows[0]) return view(inserted.rows[0]);
      const existing = await find(db, c.id);
      if (!existing)
        throw new MilletError('MERCHANT_REFERENCE_TAKEN', `A service order "${reference}" already exists`, {
          merchantReference: reference,
        });
      if (
        existing.merchant_id !== c.merchantId ||
        existing.merchant_reference !== reference ||
        existing.risk_amount !== c.riskAmount ||
        existing.score_bar !== c.scoreBar ||
        existing.description !== description ||
        existing.max_days !== maxDays
      )
        throw new MilletError(
          'IDEMPOTENCY_KEY_REUSED',
          `Service order ${c.id} was created with other details`,
        );
      return view(existing);
    },

    async getServiceOrder(id, scope) {
      return view(await load(id, scope));
    },

    async listUserServiceOrders(userId, query = {}) {
      const limit = Math.min(500, Math.max(1, query.limit ?? 50));
      if (query.cursor !== undefined && !isUuid(query.cursor))
        throw new MilletError('VALIDATION_FAILED', 'cursor is not one this API handed out', {
          field: 'cursor',
        });
      const r = await db.query<Row>(
        `SELECT * FROM paypoints_service_orders
         WHERE user_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::uuid IS NULL OR id < $3::uuid)
         ORDER BY id DESC LIMIT $4`,
        [userId, query.status ?? null, query.cursor ?? null, limit + 1],
      );
      const items = await views(r.rows.slice(0, limit));
      return { items, nextCursor: r.rows.length > limit ? items[items.length - 1]!.id : null };
    },

    async acceptServiceOrder({ id, userId, method = DEFAULT_METHOD }) {
      const row = await load(id, { userId });
      if (method === DEPOSIT_METHOD)
        throw new MilletError('VALIDATION_FAILED', `${DEPOSIT_METHOD} is not a method users choose`, {
          field: 'method',
        });
      requireChargeableMethod(method);
      if (row.status === 'accepting' && row.user_id === userId) return view(await holdDeposit(row));
      if (row.status !== 'created') {
        if (row.user_id === userId && row.status !== 'cancelled') return view(row);
        throw wrongState(row, 'accepted');
      }
      // A merchant suspended since the offer cannot be paid the fee: taking the order would only
      // hold the user's deposit until the completion found that out.
      if ((await merchants.getMerchant(row.merchant_id)).status !== 'active')
        throw new MilletError(
          'MERCHANT_SUSPENDED',
          'The merchant is suspended and takes no service orders now',
          {
            merchantId: row.merchant_id,
          },
        );
      // The fee is a merchant payment: a verified user with a wallet, whatever the score.
      const user = await users.getUser(userId);
      // Only reads so far: once the user has verified, the same request may run again.
      if (user.kycStatus !== 'verified')
        throw new MilletError(
          'IDENTITY_NOT_VERIFIED',
          'Verify your identity before taking a service order',
          undefined,
          { beforeAnyEffect: true },
        );
      await wallet.getWallet(userId);
      // A method this user cannot pay with at all (pay-later with no line, or a suspended one)
      // would fail the fee at completion and turn it into a debt, lowering the score.
      await merchants.checkPaymentMethodPayer(method, userId);
      const d = await decide(row, userId);
      const waived = d.decision === 'score_cleared_bar';
      const taken = await update(
        id,
        `status = $4, user_id = $5, method = $6, deposit = $7, decision = $8, score = $9, score_id = $10,
         deposit_hold_id = $11, accepted_at = $2`,
        [
          waived ? 'active' : 'accepting',
          userId,
          method,
          waived ? 'waived' : 'held',
          d.decision,
          d.score,
          d.scoreId,
          // A new hold id per acceptance: the ledger keeps a refused id refused, and a user who
          // could not cover the deposit may top up and accept again (a retry reuses the stored id).
          waived ? null : newId(),
        ],
        ['created'],
      );
      if (!taken) {
        const now = (await find(db, id))!;
        // Taken meanwhile by another request of this same user (a double tap, each with its own
        // key): answered as that request's retry would be, not as if someone else had taken it.
        if (now.user_id === userId && now.status !== 'cancelled')
          return view(now.status === 'accepting' ? await holdDeposit(now) : now);
        throw wrongState(now, 'accepted');
      }
      return view(waived ? taken : await holdDeposit(taken));
    },

    async completeServiceOrder({ id, merchantId, finalFee }) {
      if (finalFee < 0n) throw new MilletError('AMOUNT_INVALID', 'final_fee must not be negative');
      let row = await load(id, { merchantId });
      const sameFee = row.final_fee === finalFee;
      if (row.status === 'completed' || row.status === 'unpaid') {
        if (sameFee) return view(row);
        throw new MilletError('IDEMPOTENCY_KEY_REUSED', `Service order ${id} was completed with another fee`);
      }
      if (row.status === 'active') {
        const started = await update(
          id,
          `status = 'completing', final_fee = $4, completed_at = $2`,
          [finalFee],
          ['active'],
        );
        if (!started) return service.completeServiceOrder({ id, merchantId, finalFee });
        row = started;
      } else if (row.status !== 'completing') throw wrongState(row, 'completed');
      else if (!sameFee)
        throw new MilletError(
          'IDEMPOTENCY_KEY_REUSED',
          `Service order ${id} is being completed with another fee`,
        );
      return view(await settle(row));
    },

    async cancelServiceOrder({ id, merchantId }) {
      let row = await load(id, { merchantId });
      if (row.status === 'created' || row.status === 'active' || row.status === 'accepting')
        row =
          (await update(
            id,
            `status = 'cancelled', cancelled_at = $2`,
            [],
            ['created', 'active', 'accepting'],
          )) ?? (await load(id));
      if (row.status !== 'cancelled') throw wrongState(row, 'cancelled');
      // Also on a retry: a cancel stopped before the release finishes it (same void id).
      if (row.deposit === 'held') {
        const hold = await ledger.getHold(row.deposit_hold_id!).catch((error: unknown) => {
          if (isMilletError(error) && error.code === 'HOLD_NOT_FOUND') return undefined;
          throw error;
        });
        if (hold?.status === 'pending') await releaseDeposit(hold.id, id);
      }
      return view(row);
    },

    async payServiceDebt({ id, userId, paymentId, method = DEFAULT_METHOD }) {
      const row = await load(id, { userId });
      if (row.user_id !== userId) throw notFound(id);
      if (row.status === 'completed' && row.debt_payment_id === paymentId) return view(row);
      if (row.status !== 'unpaid')
        throw new MilletError('SERVICE_ORDER_STATE', `Service order ${id} has no unpaid debt`, {
          id,
          status: row.status,
        });
      if (method === DEPOSIT_METHOD)
        throw new MilletError('VALIDATION_FAILED', `${DEPOSIT_METHOD} is not a method users choose`, {
          field: 'method',
        });
      requireChargeableMethod(method);
      const claimed = await claimDebt(row, paymentId);
      if (claimed.debt_payment_id === paymentId) return view(claimed);
      // One payment order per attempt (an attempt is the payment id), paid at once.
      const part = `debt:${paymentId}`;
      const paid = await pay(claimed, part, claimed.debt, method, {}, paymentId);
      if ('error' in paid) {
        // Still unpaid: the claim goes, and the payment's own error (INSUFFICIENT_FUNDS…) is the answer.
        await releaseDebtClaim(id, paymentId);
        throw paid.error;
      }
      // A card payment the bank has not settled keeps the claim: no other attempt pays meanwhile.
      if (paid.status === 'pending') return view(claimed);
      return view((await debtPaidBy(id, paymentId)) ?? (await load(id)));
    },

    unpaidDebts: debtSource.unpaidDebts,

    async finishAbandonedAcceptances(limit = 100) {
      const due = await db.query<Row>(
        `SELECT * FROM paypoints_service_orders WHERE status = 'accepting' AND accepted_at <= $1
         ORDER BY accepted_at LIMIT $2`,
        [new Date(clock.now().getTime() - ABANDONED_ACCEPTANCE_MS), limit],
      );
      let finished = 0;
      for (const row of due.rows) {
        // The retry the user never made: the hold by its stored id (placed at most once) and the
        // conditional activation, or — the wallet no longer covering it — the order back on offer.
        try {
          await holdDeposit(row);
          finished++;
        } catch (error) {
          if (!isMilletError(error)) throw error;
          if (!UNDECIDED.has(error.code)) finished++;
        }
      }
      return finished;
    },
  };
  return service;
}
