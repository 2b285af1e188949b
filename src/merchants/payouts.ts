import { derivedId, isMilletError, type Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { BankDeclinedError, BankTimeoutError, type CardSettlement, type Wallet } from '../wallet/index.ts';
import { enqueueMerchantEvent } from './merchant-events.ts';
import type { Merchant, MerchantWebhooks, PayoutStatus } from './types.ts';

export interface PayoutRow {
  id: string;
  settlement_id: string;
  merchant_id: string;
  business_date: string;
  due_date: string;
  amount: bigint;
  currency: string;
  status: PayoutStatus;
  attempt: number;
  bank_reference: string | null;
  card_token: string | null;
  failure_code: string | null;
  failure_message: string | null;
  paid_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * Per attempt: the hold in merchant_payable, its post or void, and our reference at the bank. A
 * new attempt gets new ids, because the ledger keeps a refused id refused and the bank answers a
 * known reference with its old outcome.
 */
export const payoutAttemptIds = (payoutId: string, attempt: number) => ({
  hold: derivedId('merchants.payout.hold', `${payoutId}:${attempt}`),
  post: derivedId('merchants.payout.post', `${payoutId}:${attempt}`),
  void: derivedId('merchants.payout.void', `${payoutId}:${attempt}`),
  bankReference: derivedId('merchants.payout.bank', `${payoutId}:${attempt}`),
});

/**
 * Payouts T+1 through the wallet's bank connector, like a withdrawal: the amount is held in
 * merchant_payable (→ bank clearing) when the settlement schedules it, the bank is asked to credit
 * the merchant's settlement card or account when it is due, and the bank's settlement posts the
 * hold — or voids it, returning the money to merchant_payable, and the payout is retried at the
 * next close with a new hold and reference.
 */
export class Payouts {
  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly clock: Clock,
    private readonly wallet: Wallet,
    private readonly webhooks: MerchantWebhooks,
  ) {}

  /** Holds the payout's amount for its current attempt; a payable too small fails the attempt. */
  async reserve(merchant: Merchant, row: PayoutRow): Promise<boolean> {
    const ids = payoutAttemptIds(row.id, row.attempt);
    try {
      await this.ledger.placeHold({
        id: ids.hold,
        debitAccountId: merchant.ledgerAccountId,
        creditAccountId: this.wallet.bankClearingAccountId(row.currency),
        amount: row.amount,
        metadata: { payoutId: row.id, merchantId: row.merchant_id, attempt: row.attempt },
      });
      return true;
    } catch (error) {
      if (!isMilletError(error) || error.code !== 'INSUFFICIENT_FUNDS') throw error;
      await this.#markFailed(
        row,
        'MERCHANT_BALANCE_INSUFFICIENT',
        "The merchant's payable balance no longer covers the payout (refunds used it)",
      );
      return false;
    }
  }

  /**
   * The close's "payouts due" phase for one merchant: payouts due by `businessDate` are sent
   * (failed ones first get a new attempt and hold), and payouts the bank has not answered for are
   * asked about.
   */
  async sendDue(merchant: Merchant, businessDate: string): Promise<void> {
    const due = await this.db.query<PayoutRow>(
      `SELECT * FROM merchants_payouts WHERE merchant_id = $1 AND due_date <= $2
          AND status IN ('scheduled', 'sent', 'failed')
          -- A settlement still unbooked (its fees wait for the payable) has no hold on its payout yet.
          AND settlement_id IN (SELECT id FROM merchants_settlements WHERE merchant_id = $1 AND booked)
        ORDER BY due_date`,
      [merchant.id, businessDate],
    );
    for (let row of due.rows) {
      if (row.status === 'sent') {
        await this.#reconcile(row);
        continue;
      }
      if (row.status === 'failed') {
        const retried = await this.db.query<PayoutRow>(
          `UPDATE merchants_payouts SET status = 'scheduled', attempt = attempt + 1, bank_reference = NULL,
                  updated_at = $3
            WHERE id = $1 AND attempt = $2 AND status = 'failed' RETURNING *`,
          [row.id, row.attempt, this.clock.now()],
        );
        if (!retried.rows[0]) continue;
        row = retried.rows[0];
        if (!(await this.reserve(merchant, row))) continue;
      }
      await this.#send(merchant, row);
    }
  }

  async #send(merchant: Merchant, row: PayoutRow): Promise<void> {
    const { bankReference } = payoutAttemptIds(row.id, row.attempt);
    // Recorded before the bank is asked, so its settlement (or a status query) finds the payout.
    const sent = await this.db.query<PayoutRow>(
      `UPDATE merchants_payouts SET status = 'sent', bank_reference = $3, card_token = $4, updated_at = $5
        WHERE id = $1 AND attempt = $2 AND status = 'scheduled' RETURNING *`,
      [row.id, row.attempt, bankReference, merchant.settlementCardToken, this.clock.now()],
    );
    if (!sent.rows[0]) return;
    await this.#askBank(sent.rows[0]);
  }

  /**
   * Asks the bank to credit the attempt's card under the attempt's reference — the first time, or
   * again when the bank has no record of it: the bank keys its idempotency on the reference, so a
   * request that did reach it is answered with its outcome, never paid twice. A decline fails the
   * attempt. Any other error (a timeout, a 5xx, a reset connection) leaves the payout `sent` for
   * the next close to ask about; before, such an error failed the close's whole step and every
   * later merchant's payout waited behind this one.
   */
  async #askBank(row: PayoutRow): Promise<void> {
    try {
      await this.wallet.creditCard({
        namespace: 'payout',
        id: row.bank_reference!,
        cardToken: row.card_token!,
        amount: row.amount,
        currency: row.currency,
      });
    } catch (error) {
      if (error instanceof BankDeclinedError) {
        await this.#fail(row, 'BANK_DECLINED', `The bank declined: ${error.reason}`);
        return;
      }
      // No answer in time: the bank may still settle it, and the next close asks.
      if (error instanceof BankTimeoutError) return;
      await this.#markUnanswered(row, error);
    }
  }

  async #markUnanswered(row: PayoutRow, error: unknown): Promise<void> {
    const reason = error instanceof Error ? error.message : String(error);
    await this.db.query(
      `UPDATE merchants_payouts SET failure_code = 'BANK_UNAVAILABLE', failure_message = $3, updated_at = $4
        WHERE id = $1 AND attempt = $2 AND status = 'sent'`,
      [
        row.id,
        row.attempt,
        `The bank did not answer; asked again at the next close: ${reason}`.slice(0, 500),
        this.clock.now(),
      ],
    );
  }

  /**
   * The bank's settlement of a payout attempt (named by its `bankReference` id in the `payout`
   * namespace); other ids are not ours. Safe to receive twice.
   */
  async onBankSettlement(settlement: CardSettlement): Promise<void> {
    const found = await this.db.query<PayoutRow>(
      `SELECT * FROM merchants_payouts WHERE bank_reference = $1 AND status = 'sent'`,
      [settlement.id],
    );
    const row = found.rows[0];
    if (!row) return;
    if (settlement.outcome === 'failed') {
      await this.#fail(row, 'BANK_DECLINED', settlement.reason ?? 'the bank failed the payout');
      return;
    }
    const ids = payoutAttemptIds(row.id, row.attempt);
    await this.ledger.postHold({
      id: ids.post,
      holdId: ids.hold,
      metadata: { payoutId: row.id, merchantId: row.merchant_id, attempt: row.attempt },
    });
    await this.db.transaction(async (tx) => {
      const now = this.clock.now();
      const paid = await tx.query<PayoutRow>(
        `UPDATE merchants_payouts SET status = 'paid', paid_at = $3, failure_code = NULL, failure_message = NULL,
                updated_at = $3
          WHERE id = $1 AND attempt = $2 AND status = 'sent' RETURNING *`,
        [row.id, row.attempt, now],
      );
      const payout = paid.rows[0];
      if (!payout) return;
      await enqueueMerchantEvent(this.webhooks, tx, {
        merchantId: payout.merchant_id,
        type: 'settlement.paid',
        payload: {
          settlement_id: payout.settlement_id,
          payout_id: payout.id,
          merchant_id: payout.merchant_id,
          business_date: payout.business_date,
          amount: payout.amount.toString(),
          currency: payout.currency,
          paid_at: now.toISOString(),
        },
      });
    });
  }

  async #reconcile(row: PayoutRow): Promise<void> {
    let status: Awaited<ReturnType<Wallet['cardStatus']>>;
    try {
      status = await this.wallet.cardStatus('payout', row.bank_reference!);
    } catch (error) {
      // The bank cannot say now: the payout stays sent, the next close asks again.
      await this.#markUnanswered(row, error);
      return;
    }
    if (status === 'succeeded' || status === 'failed')
      await this.onBankSettlement({ id: row.bank_reference!, outcome: status });
    // Recorded as sent, but the bank has no record of it (a crash before the request, or an error
    // before it arrived): asked again under the same reference, as a new one could pay twice if
    // the first request still arrives.
    else if (status === 'unknown') await this.#askBank(row);
  }

  /** Voids the attempt's hold (the money returns to merchant_payable) and marks the payout failed. */
  async #fail(row: PayoutRow, code: string, message: string): Promise<void> {
    const ids = payoutAttemptIds(row.id, row.attempt);
    try {
      await this.ledger.voidHold({
        id: ids.void,
        holdId: ids.hold,
        metadata: { payoutId: row.id, merchantId: row.merchant_id, attempt: row.attempt },
      });
    } catch (error) {
      if (!(isMilletError(error) && (error.code === 'HOLD_NOT_FOUND' || error.code === 'HOLD_NOT_PENDING')))
        throw error;
    }
    await this.#markFailed(row, code, message);
  }

  async #markFailed(row: PayoutRow, code: string, message: string): Promise<void> {
    await this.db.query(
      `UPDATE merchants_payouts SET status = 'failed', failure_code = $3, failure_message = $4, updated_at = $5
        WHERE id = $1 AND attempt = $2 AND status IN ('scheduled', 'sent')`,
      [row.id, row.attempt, code, message, this.clock.now()],
    );
  }
}
