import { derivedId } from '../core/index.ts';
import type { Ledger, TransferCommand } from '../ledger/index.ts';
import type { Wallet } from '../wallet/index.ts';
import type { PaymentCollection, PaymentMethodHandler } from './payment-methods.ts';

/** The ledger entry of a payment's money arriving at the merchant: one per payment, any method. */
export const paymentEntryId = (paymentId: string): string => derivedId('merchants.payment', paymentId);

/** `balance`: the wallet pays at once, user wallet → merchant_payable, one ledger entry. */
export function balanceMethod(deps: { ledger: Ledger; wallet: Wallet }): PaymentMethodHandler {
  const transfer = async (payment: PaymentCollection): Promise<TransferCommand> => ({
    id: paymentEntryId(payment.paymentId),
    debitAccountId: await deps.wallet.walletAccountId(payment.userId),
    creditAccountId: payment.merchantAccountId,
    amount: payment.amount,
    metadata: { paymentId: payment.paymentId, merchantId: payment.merchantId, method: 'balance' },
  });
  return {
    async collect(payment) {
      await deps.ledger.transfer(await transfer(payment));
      return { status: 'succeeded' };
    },
    transfer,
  };
}
