import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Ledger, TransferCommand } from '../ledger/index.ts';
import type { Wallet } from '../wallet/index.ts';
import { BANK_CARD, lateCardPaymentReturnId, settleCardPayment } from './bank-card-method.ts';
import type { PaymentService } from './payments.ts';
import type { PaymentRow } from './rows.ts';

/** The settlement path's collaborators, recording what reaches the ledger and the payment. */
function fakes(row: Pick<PaymentRow, 'id' | 'user_id' | 'amount' | 'currency' | 'method' | 'status'>) {
  const transfers: TransferCommand[] = [];
  const outcomes: string[] = [];
  const ledger = { transfer: (command: TransferCommand) => (transfers.push(command), Promise.resolve()) };
  const wallet = {
    bankClearingAccountId: () => 'bank-clearing',
    walletAccountId: (userId: string) => Promise.resolve(`wallet-of-${userId}`),
  };
  const payments = {
    find: () => Promise.resolve(row),
    complete: (id: string) => (outcomes.push(`complete ${id}`), Promise.resolve()),
    fail: (id: string) => (outcomes.push(`fail ${id}`), Promise.resolve()),
  };
  const deps = {
    ledger: ledger as unknown as Ledger,
    wallet: wallet as unknown as Wallet,
    payments: payments as unknown as PaymentService,
  };
  return { deps, transfers, outcomes };
}

describe('a card payment the bank settles after it was failed here', () => {
  it('gives the payer the money the bank took, once, and neither revives the payment nor pays the merchant', async () => {
    const row = {
      id: randomUUID(),
      user_id: randomUUID(),
      amount: 3000n,
      currency: 'CNY',
      method: BANK_CARD,
      status: 'failed' as const,
    };
    const { deps, transfers, outcomes } = fakes(row);
    await settleCardPayment(deps, { id: row.id, outcome: 'succeeded' });
    await settleCardPayment(deps, { id: row.id, outcome: 'succeeded' });
    await settleCardPayment(deps, { id: row.id, outcome: 'failed' });
    expect(transfers).toHaveLength(2);
    // The same entry id both times: the ledger posts it once.
    for (const transfer of transfers)
      expect(transfer).toMatchObject({
        id: lateCardPaymentReturnId(row.id),
        debitAccountId: 'bank-clearing',
        creditAccountId: `wallet-of-${row.user_id}`,
        amount: 3000n,
      });
    expect(outcomes).toEqual([]);
  });
});
