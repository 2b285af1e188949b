import { divRound, type RoundingMode } from '../core/money.ts';
import { MilletError } from '../core/errors.ts';
import { addMonthsClamped, daysBetween } from './calendar.ts';
import { yearFraction, type DayCount } from './day-count.ts';
import { multiply, type Fraction } from './rates.ts';

/**
 * Repayment schedules (pure functions). Interest of a period = opening balance × annual rate ×
 * the period's year fraction, rounded with the schedule's named mode (half-even unless told).
 */
export type ScheduleType = 'equal_instalments' | 'equal_principal' | 'interest_first';
export const scheduleTypes: readonly ScheduleType[] = [
  'equal_instalments',
  'equal_principal',
  'interest_first',
];

export interface Period {
  /** The day interest starts (the draw, the previous due date, or a prepayment's date). */
  readonly start: string;
  readonly due: string;
  /** The period's year fraction under the day count. */
  readonly fraction: Fraction;
}

export interface Instalment {
  readonly number: number;
  readonly periodStart: string;
  readonly dueDate: string;
  readonly fraction: Fraction;
  readonly openingBalance: bigint;
  readonly principal: bigint;
  readonly interest: bigint;
  readonly total: bigint;
  readonly closingBalance: bigint;
}

export interface ScheduleTerms {
  readonly principal: bigint;
  /** Annual rate as a fraction of 1 (`parseRatePercent("7")` = 7/100). */
  readonly annualRate: Fraction;
  readonly type: ScheduleType;
  readonly dayCount: DayCount;
  /** Rounding of every interest amount and of the instalment; `half_even` by default. */
  readonly rounding?: RoundingMode;
}

/** Monthly periods from `start`: due dates `start` + k months, month ends clamped (vector 4). */
export function monthlyPeriods(start: string, terms: number, dayCount: DayCount): Period[] {
  if (!Number.isInteger(terms) || terms < 1 || terms > 480) {
    throw new MilletError('LENDING_SCHEDULE_INVALID', 'terms must be a whole number of months from 1 to 480');
  }
  const periods: Period[] = [];
  let previous = start;
  for (let k = 1; k <= terms; k++) {
    const due = addMonthsClamped(start, k);
    periods.push({ start: previous, due, fraction: yearFraction(dayCount, previous, due, 1) });
    previous = due;
  }
  return periods;
}

/** The schedule of a new loan drawn on `start` with `terms` monthly instalments. */
export function buildSchedule(
  terms: ScheduleTerms & { readonly start: string; readonly terms: number },
): Instalment[] {
  return amortise(terms, monthlyPeriods(terms.start, terms.terms, terms.dayCount));
}

/**
 * Amortise `terms.principal` over `periods`. For equal instalments the instalment is
 * P / Σₖ ∏ⱼ≤ₖ 1/(1 + rⱼ) with each period's own rate rⱼ (so actual-day periods weigh what they
 * cost), rounded; `fixedInstalment` keeps a given instalment instead (a prepayment that shortens
 * the term), dropping the periods no longer needed. The last instalment takes the remainder.
 */
export function amortise(
  terms: ScheduleTerms,
  periods: readonly Period[],
  options: {
    readonly fixedInstalment?: bigint;
    readonly fixedPrincipal?: bigint;
    readonly firstNumber?: number;
    /** `annuityFactor` of these periods' rates, for a caller amortising many principals over them. */
    readonly annuity?: AnnuityFactor;
  } = {},
): Instalment[] {
  const { principal, annualRate, type } = terms;
  const rounding = terms.rounding ?? 'half_even';
  if (principal <= 0n) throw new MilletError('LENDING_SCHEDULE_INVALID', 'the principal must be positive');
  if (periods.length === 0)
    throw new MilletError('LENDING_SCHEDULE_INVALID', 'a schedule needs at least one period');
  const rates = periods.map((period) => multiply(annualRate, period.fraction));
  let emi = 0n;
  if (type === 'equal_instalments') {
    const annuity = options.fixedInstalment === undefined ? (options.annuity ?? annuityFactor(rates)) : null;
    emi = annuity ? divRound(principal * annuity.num, annuity.den, rounding) : options.fixedInstalment!;
  }
  const perPrincipal =
    type === 'equal_principal'
      ? (options.fixedPrincipal ?? divRound(principal, BigInt(periods.length), rounding))
      : 0n;
  const out: Instalment[] = [];
  let balance = principal;
  for (let k = 0; k < periods.length && balance > 0n; k++) {
    const period = periods[k]!;
    const rate = rates[k]!;
    const interest = divRound(balance * rate.n, rate.d, rounding);
    const last = k === periods.length - 1;
    let part: bigint;
    if (type === 'equal_instalments') part = emi - interest;
    else if (type === 'equal_principal') part = perPrincipal;
    else part = 0n;
    if (part < 0n) part = 0n;
    // A level part rounded up can repay a small balance before the last period; unless a fixed
    // instalment or principal was asked for (shorten the term), the count is kept: every later
    // period keeps at least one fen of principal.
    const keepCount = options.fixedInstalment === undefined && options.fixedPrincipal === undefined;
    const reserve = keepCount && type !== 'interest_first' ? BigInt(periods.length - 1 - k) : 0n;
    if (!last && part > balance - reserve) part = balance - reserve > 0n ? balance - reserve : 0n;
    if (last || part > balance) part = balance;
    out.push({
      number: (options.firstNumber ?? 1) + k,
      periodStart: period.start,
      dueDate: period.due,
      fraction: period.fraction,
      openingBalance: balance,
      principal: part,
      interest,
      total: part + interest,
      closingBalance: balance - part,
    });
    balance -= part;
  }
  return out;
}

/** P / Σₖ ∏ⱼ≤ₖ 1/(1 + rⱼ), rounded: the level instalment that repays P over periods with rates rⱼ. */
export function equalInstalment(
  principal: bigint,
  rates: readonly Fraction[],
  rounding: RoundingMode,
): bigint {
  const { num, den } = annuityFactor(rates);
  return divRound(principal * num, den, rounding);
}

/** The equal instalment per unit of principal, num / den (the same for every principal). */
export interface AnnuityFactor {
  readonly num: bigint;
  readonly den: bigint;
}

/** 1 / Σₖ ∏ⱼ≤ₖ 1/(1 + rⱼ), exactly. */
export function annuityFactor(rates: readonly Fraction[]): AnnuityFactor {
  // 1/(1 + r) = d/(d + n). Over the common denominator U = ∏(dⱼ + nⱼ):
  // S·U = Σₖ (∏ⱼ≤ₖ dⱼ)(∏ⱼ>ₖ (dⱼ + nⱼ)), and the instalment is P·U / (S·U).
  const m = rates.length;
  const suffix: bigint[] = new Array<bigint>(m + 1);
  suffix[m] = 1n;
  for (let j = m - 1; j >= 0; j--) suffix[j] = suffix[j + 1]! * (rates[j]!.d + rates[j]!.n);
  let prefix = 1n;
  let sum = 0n;
  for (let k = 0; k < m; k++) {
    prefix *= rates[k]!.d;
    sum += prefix * suffix[k + 1]!;
  }
  return { num: suffix[0]!, den: sum };
}

/** Interest accrued from a period's start to `asOf` (within it): the period's interest × elapsed/length days, exactly, then rounded. */
export function accruedInterest(
  balance: bigint,
  annualRate: Fraction,
  period: { readonly periodStart: string; readonly dueDate: string; readonly fraction: Fraction },
  asOf: string,
  rounding: RoundingMode = 'half_even',
): bigint {
  const length = daysBetween(period.periodStart, period.dueDate);
  const elapsed = Math.max(0, Math.min(length, daysBetween(period.periodStart, asOf)));
  if (length <= 0 || elapsed === 0) return 0n;
  const rate = multiply(annualRate, period.fraction);
  return divRound(balance * rate.n * BigInt(elapsed), rate.d * BigInt(length), rounding);
}

/** What is left to pay on an instalment, and what has been paid of it. */
export interface InstalmentState extends Instalment {
  readonly fee: bigint;
  readonly penalty: bigint;
  readonly principalPaid: bigint;
  readonly interestPaid: bigint;
  readonly feePaid: bigint;
  readonly penaltyPaid: bigint;
  /** Interest of earlier parts of this period fixed by a prepayment (included in `interest`). */
  readonly carriedInterest: bigint;
}

/** An instalment of a new schedule: nothing paid yet. */
export function unpaidInstalment(i: Instalment): InstalmentState {
  return {
    ...i,
    fee: 0n,
    penalty: 0n,
    principalPaid: 0n,
    interestPaid: 0n,
    feePaid: 0n,
    penaltyPaid: 0n,
    carriedInterest: 0n,
  };
}

export interface PayoffQuote {
  readonly asOf: string;
  readonly principal: bigint;
  readonly interest: bigint;
  readonly fees: bigint;
  readonly penalties: bigint;
  readonly total: bigint;
}

/**
 * The amount that closes the loan on `asOf` (vector 2): all principal still owed, whatever is
 * unpaid of instalments due on or before `asOf`, and the current period's interest only for the
 * days elapsed in it (opening balance × rate × period fraction × elapsed / period days).
 */
export function payoffQuote(
  instalments: readonly InstalmentState[],
  annualRate: Fraction,
  asOf: string,
  rounding: RoundingMode = 'half_even',
): PayoffQuote {
  let principal = 0n;
  let interest = 0n;
  let fees = 0n;
  let penalties = 0n;
  for (const i of instalments) {
    principal += i.principal - i.principalPaid;
    fees += i.fee - i.feePaid;
    penalties += i.penalty - i.penaltyPaid;
    if (i.dueDate <= asOf) {
      interest += i.interest - i.interestPaid;
    } else if (i.periodStart < asOf) {
      const owed =
        i.carriedInterest + accruedInterest(i.openingBalance, annualRate, i, asOf, rounding) - i.interestPaid;
      if (owed > 0n) interest += owed;
    }
  }
  return { asOf, principal, interest, fees, penalties, total: principal + interest + fees + penalties };
}

/** Pay-in-4 style: a down payment now (basis points of the total) and the rest in equal monthly parts, leftover fen on the first. */
export function payInInstalments(
  total: bigint,
  start: string,
  options: {
    readonly count?: number;
    readonly downPaymentBps?: number;
    readonly rounding?: RoundingMode;
  } = {},
): Array<{ number: number; dueDate: string; amount: bigint }> {
  const count = options.count ?? 4;
  if (total <= 0n || !Number.isInteger(count) || count < 2) {
    throw new MilletError('LENDING_SCHEDULE_INVALID', 'a positive total in at least two parts');
  }
  const bps = options.downPaymentBps ?? Math.round(10_000 / count);
  if (!Number.isInteger(bps) || bps < 0 || bps >= 10_000) {
    throw new MilletError('LENDING_SCHEDULE_INVALID', 'the down payment is 0–99.99% of the total');
  }
  const down = divRound(total * BigInt(bps), 10_000n, options.rounding ?? 'half_even');
  const rest = total - down;
  const parts = BigInt(count - 1);
  const each = rest / parts;
  const leftover = rest - each * parts;
  return [
    { number: 1, dueDate: start, amount: down },
    ...Array.from({ length: count - 1 }, (_, k) => ({
      number: k + 2,
      dueDate: addMonthsClamped(start, k + 1),
      amount: k === 0 ? each + leftover : each,
    })),
  ];
}
