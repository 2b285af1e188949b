import { derivedId } from '../core/index.ts';
import type { Ledger } from '../ledger/index.ts';

export const PAYLATER_CURRENCY = 'CNY';

/**
 * Per product: the users' interest, fee and penalty debts as one receivable (`no_overcredit`: never
 * repaid beyond what was charged), the three incomes, what merchants owe for interest-free
 * instalments they pay for, and (contra to fee income, debit-normal) the fees returned to merchants
 * when those purchases are refunded: fee income is `credit_only`, so what goes back is not taken off
 * it but counted against it here.
 */
export const productAccountCodes = {
  charges: 'paylater_charges_receivable',
  interest: 'paylater_interest_income',
  fee: 'paylater_fee_income',
  penalty: 'paylater_penalty_income',
  merchantFee: 'paylater_merchant_fee_receivable',
  merchantFeeRefund: 'paylater_merchant_fee_refunds',
} as const;
export type ProductAccount = keyof typeof productAccountCodes;

export const productAccountId = (productId: string, account: ProductAccount): string =>
  derivedId('paylater.account', `${productId}:${account}`);

/** The line's principal receivable: what the user owes (debit-normal, never credited past zero). */
export const lineAccountId = (lineId: string): string => derivedId('paylater.line', lineId);

export async function openProductAccounts(ledger: Ledger, productId: string): Promise<void> {
  for (const account of Object.keys(productAccountCodes) as ProductAccount[])
    await openProductAccount(ledger, productId, account);
}

/** Idempotent (same id, same fields): products opened before an account existed get it on first use. */
export async function openProductAccount(
  ledger: Ledger,
  productId: string,
  account: ProductAccount,
): Promise<void> {
  // Debit-normal ones (receivables, fees returned) are never credited past what was debited.
  const debitNormal = account === 'charges' || account === 'merchantFee' || account === 'merchantFeeRefund';
  await ledger.openAccount({
    id: productAccountId(productId, account),
    currency: PAYLATER_CURRENCY,
    code: productAccountCodes[account],
    bound: debitNormal ? { kind: 'no_overcredit' } : { kind: 'credit_only' },
    metadata: { productId },
  });
}

export async function openLineAccount(ledger: Ledger, lineId: string, userId: string): Promise<string> {
  const account = await ledger.openAccount({
    id: lineAccountId(lineId),
    currency: PAYLATER_CURRENCY,
    code: 'paylater_receivable',
    bound: { kind: 'no_overcredit' },
    metadata: { lineId, userId },
  });
  return account.id;
}
