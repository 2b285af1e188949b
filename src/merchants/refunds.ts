import { MilletError, derivedId, isMilletError, isUuid, type Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import type { Ledger } from '../ledger/index.ts';
import type { Wallet } from '../wallet/index.ts';
import { loadMerchant } from './merchant-directory.ts';
import type { PaymentMethodRegistry } from './payment-methods.ts';
import type { PaymentService } from './payments.ts';
import {
  isUniqueViolation,
  paymentFromRow,
  refundFromRow,
  requireIds,
  type PaymentRow,
  type RefundRow,
} from './rows.ts';
import { enqueueMerchantEvent, notifyUrlOf, refundEventPayload } from './merchant-events.ts';
import type { MerchantWebhooks, Refund, RefundCommand } from './types.ts';

const refundEntryId = (refundId: string): string => derivedId('merchants.refund', refundId);

function refundNotFound(id: string): MilletError {
  return new MilletError('REFUND_NOT_FOUND', `No refund ${id}`, { id });
}

/**
 * Partial and multiple refunds, never more than was paid: the refund reserves its amount on the
 * payment with one conditional update (`refunded + amount <= amount`) in the transaction that
 * records it, so concurrent refunds cannot pass the total together. Then the ledger moves the money
 * merchant_payable → the payer's wallet (entry id derived from the refund's); bank-card payments are
 * refunded to the wallet too. If the ledger refuses — the merchant's payable balance is too small —
 * the refund fails and its reservation is given back.
 */
export class Refunds {
  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly clock: Clock,
    private readonly wallet: Wallet,
    private readonly payments: PaymentService,
    private readonly webhooks: MerchantWebhooks,
    private readonly methods?: PaymentMethodRegistry,
  ) {}

  async refund(command: RefundCommand): Promise<Refund> {
    requireIds({ id: command.id, merchantId: command.merchantId, paymentId: command.paymentId });
    if (command.amount <= 0n) throw new MilletError('AMOUNT_INVALID', 'amount must be positive');
    const reason = command.reason?.trim() || null;
    if (reason && reason.length > 256)
      throw new MilletError('VALIDATION_FAILED', 'reason must be at most 256 characters', {
        field: 'reason',
      });
    const existing = await this.#find(command.id);
    if (existing) return this.#replay(existing, command);
    const payment = await this.payments.get(command.paymentId, { merchantId: command.merchantId });
    const payer = await this.wallet.getWallet(payment.userId);
    const merchant = await loadMerchant(this.db, command.merchantId);
    const now = this.clock.now();
    let row: RefundRow;
    try {
      row = await this.db.transaction(async (tx) => {
        const reserved = await tx.query<PaymentRow>(
          `UPDATE merchants_payments SET refunded = refunded + $3, updated_at = $4
            WHERE id = $1 AND merchant_id = $2 AND status = 'succeeded' AND refunded + $3 <= amount
            RETURNING *`,
          [command.paymentId, command.merchantId, command.amount, now],
        );
        if (reserved.rows.length === 0) {
          const found = await tx.query<PaymentRow>('SELECT * FROM merchants_payments WHERE id = $1', [
            command.paymentId,
          ]);
          const current = paymentFromRow(found.rows[0]!);
          if (current.status !== 'succeeded')
            throw new MilletError('PAYMENT_NOT_REFUNDABLE', `Payment ${current.id} is ${current.status}`, {
              paymentId: current.id,
              status: current.status,
            });
          const refundable = current.amount - current.refunded;
          throw new MilletError(
            'REFUND_EXCEEDS_PAYMENT',
            `At most ${refundable} more can be refunded on payment ${current.id}`,
            {
              paymentId: current.id,
              amount: current.amount.toString(),
              refunded: current.refunded.toString(),
              refundable: refundable.toString(),
            },
          );
        }
        const inserted = await tx.query<RefundRow>(
          `INSERT INTO merchants_refunds (id, payment_id, merchant_id, amount, currency, reason, status, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7) RETURNING *`,
          [command.id, command.paymentId, command.merchantId, command.amount, payment.currency, reason, now],
        );
        return inserted.rows[0]!;
      });
    } catch (error) {
      // A concurrent retry of this refund (the same id) recorded it first, and this transaction
      // rolled back: on its key, or, when the twin took what was left of the payment, on the
      // reservation, which waited for the twin's commit and then found nothing left to refund.
      if (
        isUniqueViolation(error, 'merchants_refunds_pkey') ||
        (isMilletError(error) && error.code === 'REFUND_EXCEEDS_PAYMENT')
      ) {
        const raced = await this.#find(command.id);
        if (raced) return this.#replay(raced, command);
      }
      throw error;
    }
    return this.#complete(row, merchant.ledgerAccountId, payer.ledgerAccountId, payment);
  }

  async get(id: string, merchantId?: string): Promise<Refund> {
    const row = await this.#find(id);
    if (!row || (merchantId !== undefined && row.merchant_id !== merchantId)) throw refundNotFound(id);
    return refundFromRow(row);
  }

  async refundedAmounts(paymentIds: readonly string[]): Promise<ReadonlyMap<string, bigint>> {
    const out = new Map<string, bigint>();
    const valid = paymentIds.filter(isUuid);
    if (valid.length === 0) return out;
    const result = await this.db.query<{ payment_id: string; refunded: bigint }>(
      `SELECT payment_id, sum(amount)::int8 AS refunded FROM merchants_refunds
        WHERE payment_id = ANY($1::uuid[]) AND status = 'succeeded' GROUP BY payment_id`,
      [valid],
    );
    for (const row of result.rows) out.set(row.payment_id, row.refunded);
    return out;
  }

  async #find(id: string): Promise<RefundRow | undefined> {
    if (!isUuid(id)) return undefined;
    const result = await this.db.query<RefundRow>('SELECT * FROM merchants_refunds WHERE id = $1', [id]);
    return result.rows[0];
  }

  /**
   * Claims, oldest first, up to `limit` refunds pending since `before` or earlier that no sweep
   * holds, leasing each until `leaseUntil` (as PaymentService.claimPending).
   */
  async claimPending(before: Date, leaseUntil: Date, limit: number): Promise<RefundRow[]> {
    const result = await this.db.query<RefundRow>(
      `UPDATE merchants_refunds SET next_attempt_at = $3
        WHERE status = 'pending' AND id IN (
          SELECT id FROM merchants_refunds
           WHERE status = 'pending' AND created_at <= $1 AND (next_attempt_at IS NULL OR next_attempt_at <= $2)
           ORDER BY created_at LIMIT $4 FOR UPDATE SKIP LOCKED)
        RETURNING *`,
      [before, this.clock.now(), leaseUntil, limit],
    );
    return result.rows.sort((a, b) => a.created_at.getTime() - b.created_at.getTime());
  }

  /**
   * Drives a pending refund on, as a retry of its request would: the same ledger entry id (or the
   * method's refund, idempotent by refund id) moves the money once, then the refund succeeds — or
   * fails and gives its reservation back when the refusal is definite. Undecided again, it stays
   * pending and this throws.
   */
  async redrive(row: RefundRow): Promise<Refund> {
    const payment = await this.payments.get(row.payment_id);
    const [merchant, payer] = await Promise.all([
      loadMerchant(this.db, row.merchant_id),
      this.wallet.getWallet(payment.userId),
    ]);
    return this.#complete(row, merchant.ledgerAccountId, payer.ledgerAccountId, payment);
  }

  async #replay(row: RefundRow, command: RefundCommand): Promise<Refund> {
    if (
      row.merchant_id !== command.merchantId ||
      row.payment_id !== command.paymentId ||
      row.amount !== command.amount ||
      row.reason !== (command.reason?.trim() || null)
    )
      throw new MilletError(
        'IDEMPOTENCY_KEY_REUSED',
        `Refund ${command.id} was already requested with other details`,
      );
    if (row.status !== 'pending') return refundFromRow(row);
    const payment = await this.payments.get(row.payment_id);
    const [merchant, payer] = await Promise.all([
      loadMerchant(this.db, row.merchant_id),
      this.wallet.getWallet(payment.userId),
    ]);
    return this.#complete(row, merchant.ledgerAccountId, payer.ledgerAccountId, payment);
  }

  async #complete(
    row: RefundRow,
    merchantAccount: string,
    payerAccount: string,
    payment: { method: string; userId: string },
  ): Promise<Refund> {
    // A method with its own refund (pay-later lowers the line's balance) moves the money itself.
    const handler = this.methods?.get(payment.method);
    try {
      if (handler?.refund)
        await handler.refund({
          refundId: row.id,
          paymentId: row.payment_id,
          merchantId: row.merchant_id,
          userId: payment.userId,
          amount: row.amount,
          merchantAccountId: merchantAccount,
        });
      else
        await this.ledger.transfer({
          id: refundEntryId(row.id),
          debitAccountId: merchantAccount,
          creditAccountId: payerAccount,
          amount: row.amount,
          metadata: { refundId: row.id, paymentId: row.payment_id, merchantId: row.merchant_id },
        });
    } catch (error) {
      if (!isMilletError(error) || error.code === 'LEDGER_UNAVAILABLE') throw error;
      const failure =
        error.code === 'INSUFFICIENT_FUNDS'
          ? new MilletError(
              'MERCHANT_BALANCE_INSUFFICIENT',
              "The merchant's balance with the platform is too small for this refund",
              { refundId: row.id, paymentId: row.payment_id },
            )
          : error;
      await this.db.transaction(async (tx) => {
        const failed = await tx.query(
          `UPDATE merchants_refunds SET status = 'failed', failure_code = $2, failure_message = $3, updated_at = $4
            WHERE id = $1 AND status = 'pending'`,
          [row.id, failure.code, failure.message, this.clock.now()],
        );
        if (failed.rowCount > 0)
          await tx.query('UPDATE merchants_payments SET refunded = refunded - $2 WHERE id = $1', [
            row.payment_id,
            row.amount,
          ]);
      });
      throw failure;
    }
    const done = await this.db.transaction(async (tx) => {
      const now = this.clock.now();
      const updated = await tx.query<RefundRow>(
        `UPDATE merchants_refunds SET status = 'succeeded', succeeded_at = $2, updated_at = $2
          WHERE id = $1 AND status = 'pending' RETURNING *`,
        [row.id, now],
      );
      const refund = updated.rows[0];
      if (!refund) return undefined;
      const payment = await tx.query<{ order_id: string | null }>(
        'SELECT order_id FROM merchants_payments WHERE id = $1',
        [refund.payment_id],
      );
      const orderId = payment.rows[0]?.order_id ?? null;
      await enqueueMerchantEvent(this.webhooks, tx, {
        merchantId: refund.merchant_id,
        type: 'refund.succeeded',
        payload: refundEventPayload(refund, orderId),
        notifyUrl: await notifyUrlOf(tx, orderId),
      });
      return refund;
    });
    return refundFromRow(done ?? { ...row, status: 'succeeded' });
  }
}
