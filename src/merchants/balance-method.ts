import { derivedId } from '../core/index.ts';
import type { Ledger } from '../ledger/index.ts';
import type { Wallet } from '../wallet/index.ts';
import type { PaymentMethodHandler } from './payment-methods.ts';

/** The ledger entry of a payment's money arriving at the merchant: one per payment, any method. */
export const paymentEntryId = (paymentId: string): string => derivedId('merchants.payment', paymentId);

/** `balance`: the wallet pays at once, user wallet → merchant_payable, one ledger entry. */
export function balanceMethod(deps: { ledger: Ledger; wallet: Wallet }): PaymentMethodHandler {
  return {
    async collect(payment) {
      const wallet = await deps.wallet.getWallet(payment.userId);
      await deps.ledger.transfer({
        id: paymentEntryId(payment.paymentId),
        debitAccountId: wallet.ledgerAccountId,
        creditAccountId: payment.merchantAccountId,
        amount: payment.amount,
        metadata: { paymentId: payment.paymentId, merchantId: payment.merchantId, method: 'balance' },
      });
      return { status: 'succeeded' };
    },
  };
}
