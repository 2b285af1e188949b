import { MilletError } from '../core/errors.ts';

/**
 * APR as PBoC Announcement [2021] No. 3 asks for it: the internal rate of return of every cash flow
 * between lender and borrower (principal out, every instalment, fee and charge back), annualised.
 *
 * Two ways to give the flows:
 * - **periodic** (`aprOfPeriodicFlows`): one amount per period of a regular schedule (monthly: 12
 *   periods a year). APR = nominal periodic IRR × periods per year — the announcement's IRR method
 *   as in its worked example (simple annualisation of the monthly IRR, not compounded to an
 *   effective annual rate).
 * - **dated** (`aprOfDatedFlows`): flows on calendar dates; the period is one actual day and the
 *   year has 365 of them (actual/365): APR = daily IRR × 365, so irregular first periods, month
 *   lengths and early payoffs count by their real days.
 *
 * The result is exact: a float Newton iteration finds the neighbourhood, then the IRR is rounded
 * half-even to 4 decimals of a percent (0.01 basis point) by checking the sign of the NPV at the
 * two half-way points in bigint arithmetic, so the same flows always give the same digits.
 */
export interface Apr {
  /** The APR in percent with 4 decimals, e.g. "7.0000". */
  readonly percent: string;
  /** The same number as an integer count of 0.0001 percentage points (hundredths of a basis point). */
  readonly percentE4: bigint;
  /** How the exact IRR was rounded to `percentE4`. */
  readonly rounding: 'half_even';
}

export interface DatedCashFlow {
  /** YYYY-MM-DD */
  readonly date: string;
  /** Minor units; the sign tells the direction (e.g. −principal lent, +instalments received). */
  readonly amount: bigint;
}

/** 24% APR: the comprehensive-cost ceiling (DESIGN §2.4, judicial protection limit). */
export const APR_CAP_PERCENT_E4 = 240_000n;

const SCALE = 1_000_000n; // percentE4 / SCALE = annual rate as a fraction

/**
 * APR of a regular schedule. `amounts[k]` is the net flow at the end of period k (k = 0 is the
 * start, usually −principal from the lender's side or +principal from the borrower's).
 *
 * @example aprOfPeriodicFlows([-10000n, 1701n, 1701n, 1701n, 1701n, 1701n, 1700n], 12).percent // "6.9859"-ish
 */
export function aprOfPeriodicFlows(amounts: readonly bigint[], periodsPerYear: number): Apr {
  if (!Number.isInteger(periodsPerYear) || periodsPerYear < 1 || periodsPerYear > 366) {
    throw new MilletError('LENDING_CASH_FLOWS_INVALID', 'periods per year must be an integer from 1 to 366');
  }
  return solve(
    amounts.map((amount, t) => ({ t, amount })),
    periodsPerYear,
  );
}

/** APR of flows on dates (actual/365: daily IRR × 365). Dates may come in any order. */
export function aprOfDatedFlows(flows: readonly DatedCashFlow[]): Apr {
  if (flows.length === 0) throw new MilletError('LENDING_CASH_FLOWS_INVALID', 'no cash flows');
  const days = flows.map((flow) => dayNumber(flow.date));
  const first = Math.min(...days);
  return solve(
    flows.map((flow, i) => ({ t: days[i]! - first, amount: flow.amount })),
    365,
  );
}

/**
 * Whether `aprOfPeriodicFlows(amounts, periodsPerYear).percentE4 <= limitE4`, exactly, from one
 * sign of the NPV (no solve): the rounded APR is at most the limit when the NPV half a unit above
 * it is negative, or zero and the tie rounds (half-even) to an even limit.
 */
export function aprAtMost(amounts: readonly bigint[], periodsPerYear: number, limitE4: bigint): boolean {
  const flows = normalise(amounts.map((amount, t) => ({ t, amount })));
  const ppy = BigInt(periodsPerYear);
  if (2n * limitE4 + 1n <= -2n * SCALE * ppy) return false;
  const sign = npvSign(flows, 2n * SCALE * ppy, 2n * limitE4 + 1n);
  return sign < 0 || (sign === 0 && limitE4 % 2n === 0n);
}

/** Refuses an APR above the cap (24% unless given) with `APR_ABOVE_CAP`. */
export function assertAprWithinCap(apr: Apr, capPercentE4: bigint = APR_CAP_PERCENT_E4): void {
  if (apr.percentE4 > capPercentE4) {
    throw new MilletError(
      'APR_ABOVE_CAP',
      `APR ${apr.percent}% is above the ${formatPercentE4(capPercentE4)}% ceiling on the comprehensive cost`,
      { apr_percent: apr.percent, cap_percent: formatPercentE4(capPercentE4) },
    );
  }
}

/** 70000n → "7.0000" */
export function formatPercentE4(value: bigint): string {
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(5, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -4)}.${digits.slice(-4)}`;
}

interface Flow {
  readonly t: number;
  readonly amount: bigint;
}

function solve(input: readonly Flow[], periodsPerYear: number): Apr {
  const flows = normalise(input);
  const ppy = BigInt(periodsPerYear);
  const floor = -SCALE * ppy; // a periodic rate of −100%
  // Exact sign of the NPV half a grid unit above g (annual rate (g + ½) × 0.0001 %).
  const above = (g: bigint): number => (g < floor ? 1 : npvSign(flows, 2n * SCALE * ppy, 2n * g + 1n));
  // The rounded APR is the smallest g whose upper half-way point has NPV ≤ 0 (NPV falls as the rate
  // rises, from the lender's side). Gallop from the float estimate to a bracket, then bisect.
  const estimate = BigInt(Math.round(floatIrr(flows) * periodsPerYear * 1e6));
  let lo: bigint; // above(lo) > 0
  let hi: bigint; // above(hi) <= 0
  if (above(estimate) <= 0) {
    hi = estimate;
    let step = 1n;
    lo = hi - step;
    while (above(lo) <= 0) {
      if (lo < floor) throw noIrr();
      hi = lo;
      step *= 2n;
      lo = hi - step;
    }
  } else {
    lo = estimate;
    let step = 1n;
    hi = lo + step;
    for (let i = 0; above(hi) > 0; i++) {
      if (i > 200) throw noIrr();
      lo = hi;
      step *= 2n;
      hi = lo + step;
    }
  }
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (above(mid) > 0) lo = mid;
    else hi = mid;
  }
  // The IRR lies in (hi − ½, hi + ½]; exactly hi + ½ is a tie, broken to the even neighbour.
  if (above(hi) === 0 && hi % 2n !== 0n) return apr(hi + 1n);
  return apr(hi);
}

function noIrr(): MilletError {
  return new MilletError('LENDING_CASH_FLOWS_INVALID', 'the cash flows have no internal rate of return');
}

function apr(percentE4: bigint): Apr {
  return { percent: formatPercentE4(percentE4), percentE4, rounding: 'half_even' };
}

/**
 * Sort by time, merge flows at the same time, and turn them to the lender's view (the first
 * non-zero flow negative). Refuses lists without both an outflow and an inflow.
 */
function normalise(input: readonly Flow[]): Flow[] {
  const byTime = new Map<number, bigint>();
  for (const flow of input) {
    if (!Number.isInteger(flow.t) || flow.t < 0) {
      throw new MilletError(
        'LENDING_CASH_FLOWS_INVALID',
        'cash-flow times must be whole periods from the start',
      );
    }
    byTime.set(flow.t, (byTime.get(flow.t) ?? 0n) + flow.amount);
  }
  const flows = [...byTime.entries()]
    .filter(([, amount]) => amount !== 0n)
    .sort(([a], [b]) => a - b)
    .map(([t, amount]) => ({ t, amount }));
  const first = flows[0];
  if (!first || !flows.some((flow) => flow.amount > 0n) || !flows.some((flow) => flow.amount < 0n)) {
    throw new MilletError('LENDING_CASH_FLOWS_INVALID', 'cash flows need money both lent and repaid');
  }
  if (first.amount > 0n) return flows.map((flow) => ({ t: flow.t, amount: -flow.amount }));
  return flows;
}

/**
 * Sign of NPV at the periodic rate r = x / d (x > −d), exactly: NPV · (1 + r)^T · d^0 has the
 * sign of Σ cf_k · d^(t_k) · (d + x)^(T − t_k), built left to right like Horner's rule.
 */
function npvSign(flows: readonly Flow[], d: bigint, x: bigint): number {
  const n = d + x;
  let acc = 0n;
  let dPow = 1n;
  let previous = 0;
  for (const flow of flows) {
    const gap = BigInt(flow.t - previous);
    if (gap > 0n) {
      acc *= n ** gap;
      dPow *= d ** gap;
    }
    acc += flow.amount * dPow;
    previous = flow.t;
  }
  return acc > 0n ? 1 : acc < 0n ? -1 : 0;
}

/** Newton's method on the periodic rate in floats (only an estimate; `solve` makes it exact). */
function floatIrr(flows: readonly Flow[]): number {
  const cf = flows.map((flow) => ({ t: flow.t, a: Number(flow.amount) }));
  let r = 0.01;
  for (let i = 0; i < 100; i++) {
    let f = 0;
    let df = 0;
    for (const { t, a } of cf) {
      const v = a * Math.pow(1 + r, -t);
      f += v;
      df += (-t * v) / (1 + r);
    }
    if (!Number.isFinite(f) || !Number.isFinite(df) || df === 0) break;
    const next = r - f / df;
    if (!Number.isFinite(next)) break;
    const clamped = next <= -0.99 ? (r - 0.99) / 2 : next;
    if (Math.abs(clamped - r) < 1e-12) return clamped;
    r = clamped;
  }
  return Number.isFinite(r) && r > -0.99 ? r : 0;
}

function dayNumber(date: string): number {
  const ms = Date.parse(`${date}T00:00:00Z`);
  if (
    !/^\d{4}-\d{2}-\d{2}$/.test(date) ||
    Number.isNaN(ms) ||
    new Date(ms).toISOString().slice(0, 10) !== date
  ) {
    throw new MilletError('LENDING_CASH_FLOWS_INVALID', `"${date}" is not a date (YYYY-MM-DD)`);
  }
  return Math.round(ms / 86_400_000);
}
