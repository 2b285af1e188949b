import { MilletError, formatMinorUnits } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import { batchEffect, type BatchEffect, type BatchHook } from '../ledger/index.ts';
import { accountClassLimits, usagePeriod, type AccountClass } from './account-classes.ts';
import { WALLET_CURRENCY } from './wallet-accounts.ts';

/**
 * Rows named 'life' hold Class I payments from before every payment was counted by business year
 * (they cannot be told apart by year, so they count only toward Class I's lifetime limit). Each
 * Class I charge also locks this row, creating it at 0: a user's Class I payments are then judged
 * one at a time, even two either side of New Year that charge different year rows.
 */
const LIFE = 'life';

interface UsageKey {
  userId: string;
  period: string;
}

const usageKey = (userId: string, period: string) => `${userId}\u0000${period}`;

/** The rows a payment charges or is judged by under its class, each locked. */
function keysToLock(userId: string, accountClass: AccountClass, period: string): UsageKey[] {
  const charged = { userId, period };
  return accountClassLimits[accountClass].per === 'life' ? [charged, { userId, period: LIFE }] : [charged];
}

/**
 * Locks usage rows, creating missing ones at 0 so there is a row to lock, in key order — the same
 * in every process and path, so two payments' locks never wait on each other in a cycle.
 */
async function lockUsage(
  tx: Queryable,
  keys: readonly UsageKey[],
): Promise<{ user_id: string; period: string; used: bigint }[]> {
  const unique = new Map<string, UsageKey>();
  for (const key of keys) unique.set(usageKey(key.userId, key.period), key);
  const sorted = [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, k]) => k);
  const rows = await tx.query<{ user_id: string; period: string; used: bigint }>(
    `INSERT INTO wallet_payment_usage AS u (user_id, period, used)
     SELECT user_id, period, 0 FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS k(user_id, period, n) ORDER BY n
     ON CONFLICT (user_id, period) DO UPDATE SET used = u.used
     RETURNING user_id, period, used`,
    [sorted.map((k) => k.userId), sorted.map((k) => k.period)],
  );
  return rows.rows;
}

/** What each user paid over the account's life, in every class: the sum of all their rows. */
async function paidOverLife(tx: Queryable, userIds: readonly string[]): Promise<Map<string, bigint>> {
  const rows = await tx.query<{ user_id: string; used: bigint }>(
    `SELECT user_id, sum(used)::int8 AS used FROM wallet_payment_usage
     WHERE user_id = ANY($1::uuid[]) GROUP BY user_id`,
    [userIds],
  );
  return new Map(rows.rows.map((r) => [r.user_id, r.used]));
}

/**
 * Counts a payment against the payer's account-class limit, or refuses it, under a lock on the
 * rows it is judged by, so concurrent payments by one user can never together pass the limit.
 * Returns the period charged, for a later release.
 */
export async function chargePaymentAllowance(
  tx: Queryable,
  userId: string,
  accountClass: AccountClass,
  amount: bigint,
  at: Date,
): Promise<string> {
  const { limit, per } = accountClassLimits[accountClass];
  const period = usagePeriod(accountClass, at);
  if (per === 'year') {
    // One conditional upsert: the year's row is all a Class II or III payment is judged by.
    const charged = await tx.query<{ used: bigint }>(
      `INSERT INTO wallet_payment_usage AS u (user_id, period, used)
       SELECT $1, $2, $3::int8 WHERE $3::int8 <= $4::int8
       ON CONFLICT (user_id, period) DO UPDATE SET used = u.used + excluded.used
         WHERE u.used + excluded.used <= $4::int8
       RETURNING used`,
      [userId, period, amount, limit],
    );
    if (charged.rows.length === 0) {
      const usage = await tx.query<{ used: bigint }>(
        'SELECT used FROM wallet_payment_usage WHERE user_id = $1 AND period = $2',
        [userId, period],
      );
      throw limitExceeded(accountClass, period, usage.rows[0]?.used ?? 0n);
    }
    return period;
  }
  await lockUsage(tx, keysToLock(userId, accountClass, period));
  const used = (await paidOverLife(tx, [userId])).get(userId) ?? 0n;
  if (used + amount > limit) throw limitExceeded(accountClass, LIFE, used);
  await tx.query('UPDATE wallet_payment_usage SET used = used + $3 WHERE user_id = $1 AND period = $2', [
    userId,
    period,
    amount,
  ]);
  return period;
}

function limitExceeded(accountClass: AccountClass, period: string, used: bigint): MilletError {
  const { limit } = accountClassLimits[accountClass];
  // Class I's lifetime limit counts withdrawals too (see BankOperations), so it says so.
  const span =
    period === 'life' ? "over the account's life, withdrawals to your bank account included" : `in ${period}`;
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
  dirty: boolean;
}

interface BatchUsage {
  rows: Map<string, Usage>;
  /** Each user's locked rows, for a Class I payment's lifetime sum. */
  byUser: Map<string, Usage[]>;
  /** For each user with a Class I payment in the batch: what their rows not locked here hold. */
  unlocked: Map<string, bigint>;
}

/**
 * The class-limit charge as a ledger batch effect: the batch locks every usage row its payments
 * are judged by in one statement (see lockUsage), judges each payment against what the batch's
 * earlier payments have charged, charges only those the ledger accepts, and writes the totals back
 * in one statement. Concurrent payments — in one batch, in other processes, or through
 * `chargePaymentAllowance` — can never pass the limit together: every charge holds the row locks.
 */
const allowanceHook: BatchHook<AllowanceCharge, BatchUsage> = {
  name: 'wallet.payment-allowance',
  async load(tx, items) {
    const locked = await lockUsage(
      tx,
      items.flatMap((item) => keysToLock(item.userId, item.accountClass, item.period)),
    );
    const rows = new Map<string, Usage>();
    const byUser = new Map<string, Usage[]>();
    for (const r of locked) {
      const usage = { userId: r.user_id, period: r.period, used: r.used, dirty: false };
      rows.set(usageKey(r.user_id, r.period), usage);
      byUser.set(r.user_id, [...(byUser.get(r.user_id) ?? []), usage]);
    }
    const lifeUsers = [
      ...new Set(
        items.filter((item) => accountClassLimits[item.accountClass].per === 'life').map((i) => i.userId),
      ),
    ];
    const unlocked = new Map<string, bigint>();
    if (lifeUsers.length > 0) {
      // Read after the locks: the locked rows cannot have moved, so the difference is the rest.
      const totals = await paidOverLife(tx, lifeUsers);
      for (const userId of lifeUsers) {
        const lockedSum = byUser.get(userId)!.reduce((sum, u) => sum + u.used, 0n);
        unlocked.set(userId, (totals.get(userId) ?? 0n) - lockedSum);
      }
    }
    return { rows, byUser, unlocked };
  },
  admit(state, item) {
    const usage = state.rows.get(usageKey(item.userId, item.period))!;
    const { limit, per } = accountClassLimits[item.accountClass];
    const used =
      per === 'life'
        ? state.byUser.get(item.userId)!.reduce((sum, u) => sum + u.used, state.unlocked.get(item.userId)!)
        : usage.used;
    if (used + item.amount > limit)
      throw limitExceeded(item.accountClass, per === 'life' ? LIFE : item.period, used);
    return {
      settle: (outcome) => {
        if (!outcome.ok) return;
        usage.used += item.amount;
        usage.dirty = true;
      },
    };
  },
  async write(tx, state) {
    const dirty = [...state.rows.values()].filter((u) => u.dirty);
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

/**
 * Counts again, without judging it against the limit, what a payment had charged and been given
 * back, once it turns out to have happened after all (a bank payout after the withdrawal failed
 * here): the money has left, so it counts, even if that takes the user past the limit.
 */
export async function recountPaymentAllowance(
  tx: Queryable,
  userId: string,
  period: string,
  amount: bigint,
): Promise<void> {
  // The rows a Class I payment locks, so one judged at the same time sees this charge.
  await lockUsage(tx, [
    { userId, period },
    { userId, period: LIFE },
  ]);
  await tx.query('UPDATE wallet_payment_usage SET used = used + $3 WHERE user_id = $1 AND period = $2', [
    userId,
    period,
    amount,
  ]);
}
