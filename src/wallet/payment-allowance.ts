import { MilletError, formatMinorUnits } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import { accountClassLimits, usagePeriod, type AccountClass } from './account-classes.ts';
import { WALLET_CURRENCY } from './wallet-accounts.ts';

/**
 * Counts a payment against the payer's account-class limit, or refuses it. One conditional upsert,
 * so concurrent payments by one user can never together pass the limit. Returns the period charged,
 * for a later release.
 */
export async function chargePaymentAllowance(
  tx: Queryable,
  userId: string,
  accountClass: AccountClass,
  amount: bigint,
  at: Date,
): Promise<string> {
  const { limit } = accountClassLimits[accountClass];
  const period = usagePeriod(accountClass, at);
  const charged = await tx.query<{ used: bigint }>(
    `INSERT INTO wallet_payment_usage AS u (user_id, period, used)
     SELECT $1, $2, $3::int8 WHERE $3::int8 <= $4::int8
     ON CONFLICT (user_id, period) DO UPDATE SET used = u.used + excluded.used WHERE u.used + excluded.used <= $4::int8
     RETURNING used`,
    [userId, period, amount, limit],
  );
  if (charged.rows.length === 0) {
    const usage = await tx.query<{ used: bigint }>(
      'SELECT used FROM wallet_payment_usage WHERE user_id = $1 AND period = $2',
      [userId, period],
    );
    const used = usage.rows[0]?.used ?? 0n;
    const span = period === 'life' ? "over the account's life" : `in ${period}`;
    throw new MilletError(
      'PAYMENT_LIMIT_EXCEEDED',
      `A Class ${accountClass} account may pay at most ${formatMinorUnits(limit, WALLET_CURRENCY)} CNY ${span}; ` +
        `${formatMinorUnits(limit - used, WALLET_CURRENCY)} CNY remains. Verify your identity further to raise the limit.`,
      { accountClass, limit: limit.toString(), used: used.toString(), period },
    );
  }
  return period;
}

/** Gives back what a payment that did not happen had charged. */
export async function releasePaymentAllowance(
  tx: Queryable,
  userId: string,
  period: string,
  amount: bigint,
): Promise<void> {
  await tx.query('UPDATE wallet_payment_usage SET used = used - $3 WHERE user_id = $1 AND period = $2', [
    userId,
    period,
    amount,
  ]);
}
