import type { Logger } from 'pino';
import { MilletError, derivedId, isMilletError } from '../core/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { BankDeclinedError, type CardSettlement, type Wallet } from '../wallet/index.ts';
import { paymentEntryId } from './balance-method.ts';
import { loadMerchant } from './merchant-directory.ts';
import type { PaymentMethodHandler } from './payment-methods.ts';
import type { PaymentService } from './payments.ts';

export const BANK_CARD = 'bank_card';

/**
 * `bank_card`: the wallet's bank connector debits the card (named by the payment id in the
 * `payment` namespace, so the bank keys its idempotency on it, apart from loans' and payouts' ids)
 * and the payment stays pending. When the bank settles, the money
 * has reached the platform's bank clearing account and the ledger moves it bank_clearing →
 * merchant_payable (entry id derived from the payment's); a failed settlement fails the payment.
 */
export function bankCardMethod(wallet: Wallet): PaymentMethodHandler {
  return {
    validate(details) {
      const token = details.cardToken;
      if (!token || token.length > 64)
        throw new MilletError('VALIDATION_FAILED', 'bank_card needs a card_token (1–64 characters)', {
          field: 'card_token',
        });
    },
    async collect(payment) {
      try {
        const { bankReference } = await wallet.debitCard({
          namespace: 'payment',
          id: payment.paymentId,
          cardToken: payment.details.cardToken!,
          amount: payment.amount,
          currency: payment.currency,
        });
        return { status: 'pending', reference: bankReference };
      } catch (error) {
        if (error instanceof BankDeclinedError)
          throw new MilletError('BANK_DECLINED', `The bank declined: ${error.reason}`, {
            paymentId: payment.paymentId,
          });
        // Our own refusal (a bad request) is not the bank's: the payment fails as it says.
        if (isMilletError(error)) throw error;
        // No answer, or one we cannot read (a timeout, a reset connection, a connector's bug; the
        // wallet logs it): the bank may still take it, so settlement or reconciliation decides.
        return { status: 'pending' };
      }
    },
  };
}

/**
 * The entry that gives the payer back a card payment the bank took after it was failed here: the
 * bank's word that money moved wins, as for the wallet's own top-ups (bank-operations.ts).
 */
export const lateCardPaymentReturnId = (paymentId: string): string =>
  derivedId('merchants.payment.late-card-return', paymentId);

/** Applies the bank's settlement of a card payment; safe to receive twice. */
export async function settleCardPayment(
  deps: { ledger: Ledger; wallet: Wallet; payments: PaymentService },
  settlement: CardSettlement,
): Promise<void> {
  const row = await deps.payments.find(settlement.id);
  if (!row || row.method !== BANK_CARD) return;
  if (row.status === 'failed' && settlement.outcome === 'succeeded') {
    // Failed here (the bank had no record of it when asked, or the method reported a failure),
    // yet the bank debited the card: the order may be paid by another payment since, so the money
    // goes to the payer's wallet rather than the merchant. Once, whatever the settlement's repeats.
    await deps.ledger.transfer({
      id: lateCardPaymentReturnId(row.id),
      debitAccountId: deps.wallet.bankClearingAccountId(row.currency),
      creditAccountId: await deps.wallet.walletAccountId(row.user_id),
      amount: row.amount,
      metadata: { paymentId: row.id, method: BANK_CARD, lateSettlement: true },
    });
    return;
  }
  if (row.status !== 'pending') return;
  if (settlement.outcome === 'failed') {
    await deps.payments.fail(row.id, 'BANK_DECLINED', settlement.reason ?? 'the bank failed the payment');
    return;
  }
  const merchant = await loadMerchant(deps.payments.db, row.merchant_id);
  await deps.ledger.transfer({
    id: paymentEntryId(row.id),
    debitAccountId: deps.wallet.bankClearingAccountId(row.currency),
    creditAccountId: merchant.ledgerAccountId,
    amount: row.amount,
    metadata: { paymentId: row.id, merchantId: row.merchant_id, method: BANK_CARD },
  });
  await deps.payments.complete(row.id);
}

/** How `reconcileCardPayments` walks the pending card payments, and where it reports. */
export interface CardReconcileWalk {
  /** Payments asked about per query (default 200). */
  pageSize?: number;
  /** Where a payment the bank could not be asked about, or one that could not be ended, is reported. */
  logger?: Pick<Logger, 'error' | 'warn'>;
}

const CARD_RECONCILE_PAGE = 200;

/**
 * Card payments still pending since `before` (a lost callback, a timeout): ask the bank. Every one
 * is asked about, a page at a time: a fixed cap let the oldest ones the bank still calls pending
 * hide every newer one for good. One the bank cannot answer about stays pending (logged); the first
 * one that could not be ended is thrown once the others have been.
 */
export async function reconcileCardPayments(
  deps: { ledger: Ledger; wallet: Wallet; payments: PaymentService },
  before: Date,
  walk: CardReconcileWalk = {},
): Promise<number> {
  const pageSize = walk.pageSize ?? CARD_RECONCILE_PAGE;
  let after: { at: string; id: string } | undefined;
  let settled = 0;
  let firstError: unknown;
  for (;;) {
    const rows = await deps.payments.pendingPage(BANK_CARD, before, { after, limit: pageSize });
    for (const row of rows) {
      let status: Awaited<ReturnType<Wallet['cardStatus']>>;
      try {
        status = await deps.wallet.cardStatus('payment', row.id);
      } catch (error) {
        // The bank cannot say now: still pending, asked again next run.
        walk.logger?.warn(
          { err: error, paymentId: row.id },
          'the bank could not be asked about a card payment',
        );
        continue;
      }
      try {
        if (status === 'succeeded' || status === 'failed') {
          await settleCardPayment(deps, { id: row.id, outcome: status });
          settled += 1;
        } else if (status === 'unknown') {
          await deps.payments.fail(row.id, 'BANK_DECLINED', 'the bank has no record of the request');
          settled += 1;
        }
      } catch (error) {
        // One payment that could not be ended must not keep the rest from being: it stays pending
        // for the next run, and the run reports the failure.
        walk.logger?.error({ err: error, paymentId: row.id }, 'ending a card payment failed');
        firstError ??= error;
      }
    }
    const last = rows.at(-1);
    if (last === undefined || rows.length < pageSize) break;
    after = { at: last.at, id: last.id };
  }
  if (firstError !== undefined) throw firstError;
  return settled;
}
