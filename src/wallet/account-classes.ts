import { businessDateOf } from '../core/index.ts';

/**
 * Payment limits of the PBoC 2016 payment-account rules (银发〔2015〕392号, in force 2016-07-01):
 * Class I accounts may pay at most 1,000 CNY over the account's life, Class II at most 100,000 CNY a
 * year, Class III at most 200,000 CNY a year. Amounts in fen. Class I's lifetime total includes
 * withdrawals to the user's own bank account; Class II and III's yearly totals do not (《非银行支付机构
 * 网络支付业务管理办法》 Art. 11; see BankOperations).
 */
export type AccountClass = 'I' | 'II' | 'III';

export const accountClassLimits: Record<AccountClass, { limit: bigint; per: 'life' | 'year' }> = {
  I: { limit: 100_000n, per: 'life' },
  II: { limit: 10_000_000n, per: 'year' },
  III: { limit: 20_000_000n, per: 'year' },
};

/**
 * The usage row a payment at `at` is charged to: the business year in Asia/Shanghai, whatever the
 * payer's class. A Class II or III year is then judged on every payment of that year, including
 * those made while the account was still Class I, and Class I on the sum of every row (see
 * chargePaymentAllowance). The class is taken so callers need not know that it does not matter.
 */
export function usagePeriod(_accountClass: AccountClass, at: Date): string {
  return businessDateOf(at).slice(0, 4);
}
