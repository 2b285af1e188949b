import type { InstalmentState } from './schedule.ts';

/**
 * What the borrower sees ahead of them on a loan, from its instalments on a business date. Pure:
 * the loan JSON, the schedule and the early-payment action read the same rules, so what a screen
 * offers is what the action does.
 */

/** An instalment as shown to the borrower: its number, due date and what is left to pay on it. */
export interface UpcomingPayment {
  readonly number: number;
  readonly dueDate: string;
  readonly amount: bigint;
}

/** What is left to pay on an instalment (principal, interest and fee). */
export function unpaidOf(i: InstalmentState): bigint {
  return (
    maxZero(i.principal - i.principalPaid) + maxZero(i.interest - i.interestPaid) + maxZero(i.fee - i.feePaid)
  );
}

/**
 * The next payment: the first instalment with anything unpaid, with what is left of it. When it is
 * already due (its due date is `today` or past) the penalties owed come on top, since a repayment
 * pays them first: the amount is what settles that due date. Null when nothing is left to pay.
 *
 * Unlike the loan's current period (`cur_due_date`, the first due date after `today`, which the
 * close accrues on), an instalment paid early is skipped here and one past due is not.
 */
export function nextPayment(
  list: readonly InstalmentState[],
  today: string,
  penaltyOwed: bigint,
): UpcomingPayment | null {
  const first = byNumber(list).find((i) => unpaidOf(i) > 0n);
  if (!first) return null;
  const penalties = first.dueDate <= today ? maxZero(penaltyOwed) : 0n;
  return { number: first.number, dueDate: first.dueDate, amount: unpaidOf(first) + penalties };
}

/** Why paying the next instalment early is refused today, or the instalment it pays. */
export type EarlyInstalment =
  | { readonly payable: InstalmentState }
  /** Something is due or past due (penalties included): that is repaid first. */
  | { readonly refused: 'LOAN_INSTALMENT_DUE'; readonly due: bigint }
  /** The first instalment not yet due is already paid (or there is none). */
  | { readonly refused: 'LOAN_NOTHING_DUE'; readonly next: InstalmentState | null };

/**
 * The instalment "pay the next instalment early" settles today: the first one not yet due, while
 * nothing is due or past due and it has something left to pay.
 */
export function earlyInstalment(
  list: readonly InstalmentState[],
  today: string,
  penaltyOwed: bigint,
): EarlyInstalment {
  const due =
    list.filter((i) => i.dueDate <= today).reduce((sum, i) => sum + unpaidOf(i), 0n) + maxZero(penaltyOwed);
  if (due > 0n) return { refused: 'LOAN_INSTALMENT_DUE', due };
  const next = byNumber(list).find((i) => i.dueDate > today);
  if (!next || unpaidOf(next) <= 0n) return { refused: 'LOAN_NOTHING_DUE', next: next ?? null };
  return { payable: next };
}

/** `earlyInstalment` as shown: the instalment and its amount, or null when the action would refuse. */
export function earlyPayable(
  list: readonly InstalmentState[],
  today: string,
  penaltyOwed: bigint,
): UpcomingPayment | null {
  const early = earlyInstalment(list, today, penaltyOwed);
  if (!('payable' in early)) return null;
  const i = early.payable;
  return { number: i.number, dueDate: i.dueDate, amount: unpaidOf(i) };
}

function byNumber(list: readonly InstalmentState[]): InstalmentState[] {
  return [...list].sort((a, b) => a.number - b.number);
}

function maxZero(value: bigint): bigint {
  return value > 0n ? value : 0n;
}
