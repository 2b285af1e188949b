import { MilletError } from '../core/errors.ts';
import { daysBetween } from './calendar.ts';
import {
  accruedInterest,
  amortise,
  type InstalmentState,
  type Period,
  type ScheduleTerms,
} from './schedule.ts';

/** What a partial prepayment does to the rest of the schedule. */
export type PrepaymentMode = 'shorten_term' | 'lower_instalment';
export const prepaymentModes: readonly PrepaymentMode[] = ['shorten_term', 'lower_instalment'];

export interface PrepaymentResult {
  /** Interest of the current period accrued to the prepayment's date, paid first. */
  readonly accruedInterest: bigint;
  /** Principal the prepayment repays. */
  readonly principal: bigint;
  /** The instalments from the current one on, replacing those not yet due; empty when the loan is repaid. */
  readonly schedule: InstalmentState[];
  /** The number of the first instalment `schedule` replaces: those before it stay as they were. */
  readonly from: number;
}

/**
 * A prepayment of `amount` on `asOf`, after everything due on or before `asOf` has been paid:
 * it pays the current period's interest accrued to `asOf`, the rest repays principal, and the
 * remaining schedule is amortised again from `asOf` — the current period shortened to the days
 * left in it (its year fraction scaled by days left / days), later periods unchanged — either
 * keeping the instalment (fewer instalments: `shorten_term`) or the number of instalments (a
 * lower instalment: `lower_instalment`). An amount above the payoff is refused.
 */
export function prepay(
  instalments: readonly InstalmentState[],
  terms: Omit<ScheduleTerms, 'principal'>,
  asOf: string,
  amount: bigint,
  mode: PrepaymentMode,
): PrepaymentResult {
  if (amount <= 0n) throw new MilletError('AMOUNT_INVALID', 'a prepayment is positive');
  const rounding = terms.rounding ?? 'half_even';
  // An instalment paid in full before its due date (paid early, scheduled interest and all) is
  // settled: the schedule is amortised again from the next one, which keeps it paid.
  const open = instalments
    .filter((i) => i.dueDate > asOf && !isSettled(i))
    .sort((a, b) => a.number - b.number);
  if (
    instalments.some(
      (i) =>
        i.dueDate <= asOf &&
        i.total + i.fee + i.penalty > i.principalPaid + i.interestPaid + i.feePaid + i.penaltyPaid,
    )
  ) {
    throw new MilletError('LOAN_PREPAYMENT_INVALID', 'pay what is due before prepaying');
  }
  const current = open[0];
  if (!current) throw new MilletError('LOAN_PREPAYMENT_INVALID', 'nothing is left to prepay');
  const outstanding = open.reduce((sum, i) => sum + i.principal - i.principalPaid, 0n);
  const segment =
    current.periodStart < asOf
      ? accruedInterest(current.openingBalance, terms.annualRate, current, asOf, rounding)
      : 0n;
  const carried = current.carriedInterest + segment;
  const accrued = maxZero(carried - current.interestPaid);
  if (amount > outstanding + accrued) {
    throw new MilletError('LOAN_PREPAYMENT_INVALID', 'the prepayment is more than the payoff amount', {
      payoff: (outstanding + accrued).toString(),
    });
  }
  const toInterest = amount < accrued ? amount : accrued;
  const principal = amount - toInterest;
  const balance = outstanding - principal;
  if (balance === 0n) return { accruedInterest: toInterest, principal, schedule: [], from: current.number };

  const start = current.periodStart < asOf ? asOf : current.periodStart;
  const length = BigInt(daysBetween(current.periodStart, current.dueDate));
  const left = BigInt(daysBetween(start, current.dueDate));
  const periods: Period[] = [
    {
      start,
      due: current.dueDate,
      fraction: { n: current.fraction.n * left, d: current.fraction.d * length },
    },
    ...open.slice(1).map((i) => ({ start: i.periodStart, due: i.dueDate, fraction: i.fraction })),
  ];
  const fixed =
    mode === 'shorten_term'
      ? terms.type === 'equal_instalments'
        ? { fixedInstalment: current.total }
        : terms.type === 'equal_principal'
          ? { fixedPrincipal: current.principal }
          : {}
      : {};
  const rest = amortise({ ...terms, principal: balance }, periods, { ...fixed, firstNumber: current.number });
  const paidInterest = current.interestPaid + toInterest;
  // The current instalment now starts on the prepayment's date and carries the interest of its first days.
  const schedule = rest.map((i, k) => {
    const interest = k === 0 ? i.interest + carried : i.interest;
    return {
      ...i,
      interest,
      total: i.principal + interest,
      fee: k === 0 ? current.fee : 0n,
      penalty: k === 0 ? current.penalty : 0n,
      principalPaid: 0n,
      interestPaid: k === 0 ? paidInterest : 0n,
      feePaid: k === 0 ? current.feePaid : 0n,
      penaltyPaid: k === 0 ? current.penaltyPaid : 0n,
      carriedInterest: k === 0 ? carried : 0n,
    };
  });
  return { accruedInterest: toInterest, principal, schedule, from: current.number };
}

/**
 * Paid in full: something was paid on it and nothing is left. An instalment that never owed
 * anything (an interest-first period whose interest rounds to 0) is not settled, only empty: the
 * period is still the current one for a re-amortisation.
 */
export function isSettled(i: InstalmentState): boolean {
  return (
    i.principalPaid + i.interestPaid + i.feePaid > 0n &&
    i.principalPaid >= i.principal &&
    i.interestPaid >= i.interest &&
    i.feePaid >= i.fee
  );
}

function maxZero(value: bigint): bigint {
  return value > 0n ? value : 0n;
}
