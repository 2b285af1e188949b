import { MilletError, formatMinorUnits } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import { batchEffect, type BatchEffect, type BatchHook } from '../ledger/index.ts';
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
  const earlier = period === 'life' ? ((await paidInOtherClasses(tx, [userId])).get(userId) ?? 0n) : 0n;
  const charged = await tx.query<{ used: bigint }>(
    `INSERT INTO wallet_payment_usage AS u (user_id, period, used)
     SELECT $1, $2, $3::int8 WHERE $3::int8 + $5::int8 <= $4::int8
     ON CONFLICT (user_id, period) DO UPDATE SET used = u.used + excluded.used
       WHERE u.used + excluded.used + $5::int8 <= $4::int8
     RETURNING used`,
    [userId, period, amount, limit, earlier],
  );
  if (charged.rows.length === 0) {
    const usage = await tx.query<{ used: bigint }>(
      'SELECT used FROM wallet_payment_usage WHERE user_id = $1 AND period = $2',
      [userId, period],
    );
    throw limitExceeded(accountClass, period, (usage.rows[0]?.used ?? 0n) + earlier);
  }
  return period;
}

/**
 * What each user paid while in Class II or III (every bucket but 'life'). Class I's limit is over
 * the account's life, so a Class I payment counts these too: an account that paid 5,000 CNY as
 * Class II and is verified again as Class I has no Class I allowance left, rather than a fresh one.
 * Not locked: only payments judged under another class add to these rows, while Class I payments
 * are serialised by their own 'life' row.
 */
async function paidInOtherClasses(tx: Queryable, userIds: readonly string[]): Promise<Map<string, bigint>> {
  const rows = await tx.query<{ user_id: string; used: bigint }>(
    `SELECT user_id, sum(used)::int8 AS used FROM wallet_payment_usage
     WHERE user_id = ANY($1::uuid[]) AND period <> 'life' GROUP BY user_id`,
    [userIds],
  );
  return new Map(rows.rows.map((r) => [r.user_id, r.used]));
}

function limitExceeded(accountClass: AccountClass, period: string, used: bigint): MilletError {
  const { limit } = accountClassLimits[accountClass];
  const span = period === 'life' ? "over the account's life" : `in ${period}`;
  const remaining = used < limit ? limit - used : 0n;
  return new MilletError(
    'PAYMENT_LIMIT_EXCEEDED',
    `A Class ${accountClass} account may pay at most ${formatMinorUnits(limit, WALLET_CURRENCY)} CNY ${span}; ` +
      `${formatMinorUnits(remaining, WALLET_CURRENCY)} CNY remains. Verify your identity further to raise the limit.`,
    { accountClass, limit: limit.toString(), used: used.toString(), period },
  );
}

interface AllowanceCharge {
  userId: string;
  accountClass: AccountClass;
  amount: bigint;
  period: string;
}

interface Usage {
  userId: string;
  period: string;
  used: bigint;
  /** For the 'life' bucket, what the user paid in other classes (see paidInOtherClasses). */
  earlier: bigint;
  dirty: boolean;
}

const usageKey = (userId: string, period: string) => `${userId}\u0000${period}`;

/**
 * The class-limit charge as a ledger batch effect: the batch locks every (user, period) row its
 * payments need in one statement (creating missing ones at 0, so there is a row to lock; in key
 * order, the same in every process), judges each payment against what the batch's earlier
 * payments have charged, charges only those the ledger accepts, and writes the totals back in one
 * statement. Concurrent payments — in one batch, in other processes, or through
 * `chargePaymentAllowance` — can never pass the limit together: every charge holds the row lock.
 */
const allowanceHook: BatchHook<AllowanceCharge, Map<string, Usage>> = {
  name: 'wallet.payment-allowance',
  async load(tx, items) {
    const keys = new Map<string, { userId: string; period: string }>();
    for (const item of items) keys.set(usageKey(item.userId, item.period), item);
    const sorted = [...keys.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, k]) => k);
    const rows = await tx.query<{ user_id: string; period: string; used: bigint }>(
      `INSERT INTO wallet_payment_usage AS u (user_id, period, used)
       SELECT user_id, period, 0 FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS k(user_id, period, n) ORDER BY n
       ON CONFLICT (user_id, period) DO UPDATE SET used = u.used
       RETURNING user_id, period, used`,
      [sorted.map((k) => k.userId), sorted.map((k) => k.period)],
    );
    const lifeUsers = sorted.filter((k) => k.period === 'life').map((k) => k.userId);
    const earlier =
      lifeUsers.length > 0 ? await paidInOtherClasses(tx, lifeUsers) : new Map<string, bigint>();
    return new Map(
      rows.rows.map((r) => [
        usageKey(r.user_id, r.period),
        {
          userId: r.user_id,
          period: r.period,
          used: r.used,
          earlier: r.period === 'life' ? (earlier.get(r.user_id) ?? 0n) : 0n,
          dirty: false,
        },
      ]),
    );
  },
  admit(state, item) {
    const usage = state.get(usageKey(item.userId, item.period))!;
    if (usage.earlier + usage.used + item.amount > accountClassLimits[item.accountClass].limit)
      throw limitExceeded(item.accountClass, item.period, usage.earlier + usage.used);
    return {
      settle: (outcome) => {
        if (!outcome.ok) return;
        usage.used += item.amount;
        usage.dirty = true;
      },
    };
  },
  async write(tx, state) {
    const dirty = [...state.values()].filter((u) => u.dirty);
    if (dirty.length === 0) return;
    await tx.query(
      `UPDATE wallet_payment_usage u SET used = v.used
         FROM unnest($1::uuid[], $2::text[], $3::int8[]) AS v(user_id, period, used)
        WHERE u.user_id = v.user_id AND u.period = v.period`,
      [dirty.map((u) => u.userId), dirty.map((u) => u.period), dirty.map((u) => u.used)],
    );
  },
};

/**
 * Charges a payment against the payer's account-class limit in the ledger batch that moves its
 * money (see `Ledger.transfer`'s effects): refused with PAYMENT_LIMIT_EXCEEDED before the ledger
 * sees it, charged only if the ledger accepts it. Returns the period it counts in, as
 * `chargePaymentAllowance` does.
 */
export function paymentAllowanceEffect(charge: {
  userId: string;
  accountClass: AccountClass;
  amount: bigint;
  at: Date;
}): { effect: BatchEffect; period: string } {
  const period = usagePeriod(charge.accountClass, charge.at);
  return { effect: batchEffect(allowanceHook, { ...charge, period }), period };
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
