import { MilletError, formatMinorUnits, type RoundingMode } from '../core/index.ts';
import {
  APR_CAP_PERCENT_E4,
  aprAtMost,
  aprOfPeriodicFlows,
  assertAprWithinCap,
  formatPercentE4,
  type Apr,
} from './apr.ts';
import { addMonthsClamped } from './calendar.ts';
import { yearFraction, type DayCount } from './day-count.ts';
import { multiply, type Fraction } from './rates.ts';
import { amortise, annuityFactor, type AnnuityFactor, type Period, type ScheduleType } from './schedule.ts';

/** What the APR check of a product depends on. */
export interface AprCheckTerms {
  scheduleType: ScheduleType;
  dayCount: DayCount;
  rounding?: RoundingMode;
  terms: number[];
  minAmount: bigint;
  maxAmount: bigint;
}

/**
 * The first start date of the dates tried, and how many: four years from a leap year's 1 January,
 * so every month length, February 29 and month-end clamping occur (the Gregorian exception years
 * are not met before 2100).
 */
const CYCLE_START_MS = Date.UTC(2024, 0, 1);
const CYCLE_DAYS = 1_461;

/**
 * The most fen-period steps (amounts × instalments) spent proving amounts between the smallest
 * and the largest one amount by amount; beyond it the product is refused with the smallest
 * minimum amount that needs none (a product priced a hair under the cap with a tiny minimum).
 */
const AMOUNT_SCAN_BUDGET = 3_000_000;

/** A distinct sequence of period fractions for one term: every start date giving it has the same schedule. */
interface ScheduleClass {
  readonly term: number;
  /** The first start date of the cycle giving this sequence. */
  readonly start: string;
  readonly node: TrieNode;
  unit?: UnitSchedule;
  periods?: Period[];
  /** The equal instalment per fen lent (the same for every amount, so worked out once). */
  annuity?: AnnuityFactor;
}

interface TrieNode {
  readonly parent: TrieNode | null;
  readonly period: Period | null;
  /** The periodic rate of the node's period, in floats (screening only). */
  readonly rate: number;
  readonly children: Map<string, TrieNode>;
}

/** The highest APR of a product's loans, and one loan that has it. */
export interface HighestApr {
  /** Exact (`exact`), or a proven upper bound that no loan passes. */
  readonly apr: Apr;
  /** Whether `apr` is some loan's APR; when false no amount is named. */
  readonly exact: boolean;
  /** The amount, number of instalments and first start date of a loan at `apr` (when exact). */
  readonly at: { readonly amount: bigint; readonly term: number; readonly start: string } | null;
}

/**
 * Fen-period steps spent looking for the dearest amount between the smallest and the largest, on
 * top of those the cap needs (about 0.1 s). Past it the answer is the lowest APR the bound proves
 * for the amounts left unscanned, a few hundred-thousandths of a percent above the truth at most.
 */
const HIGHEST_SCAN_BUDGET = 500_000;

/**
 * The highest APR any loan of the product can have, refusing (APR_ABOVE_CAP) when one is above
 * the cap: over each term, every start date of a full leap-year cycle and every amount from the
 * smallest to the largest. With `actual/365` or `actual/actual` the period lengths, so the
 * instalments and the APR, depend on the start date (a one-month loan over a 31-day month costs
 * 31/365 of the rate, × 12 = 1.9% more than the rate). Start dates giving the same period fractions
 * give the same schedule, so each distinct sequence is judged once (30/360 has only one).
 *
 * Most sequences are far from the dearest: an exact bound (below, `npvBound`) proves them no
 * dearer than the dearest found so far without building their schedule, so only a few are
 * amortised and solved exactly. The two end amounts are judged first; amounts between round
 * differently (a fen of interest rounded up weighs most on a small loan, and can make a loan in the
 * middle dearer than both ends), and the bound proves every one of them from some size on, the
 * ones below it are judged one by one.
 */
export async function worstApr(terms: AprCheckTerms, rate: Fraction): Promise<HighestApr> {
  const rounding = terms.rounding ?? 'half_even';
  const classes = await scheduleClasses(terms, rate);
  const amounts =
    terms.minAmount === terms.maxAmount ? [terms.maxAmount] : [terms.minAmount, terms.maxAmount];
  // In the order an exhaustive check meets them (term, first start date, amount), so a refusal names
  // the same loan.
  const candidates = classes.flatMap((cls) => amounts.map((amount) => ({ cls, amount })));
  const exact = new Map<number, Apr>();
  const solve = (index: number): Apr => {
    let apr = exact.get(index);
    if (!apr) {
      const { cls, amount } = candidates[index]!;
      apr = aprOfPeriodicFlows(flowsOf(terms, rate, rounding, cls, amount), 12);
      exact.set(index, apr);
    }
    return apr;
  };
  const atMost = (index: number, limitE4: bigint): boolean => {
    const { cls, amount } = candidates[index]!;
    return provenAtMost(unitOf(cls, terms.scheduleType, rounding), Number(amount), limitE4);
  };
  // Dearest-looking first, so the bound has a high bar from the start and skips nearly all.
  const order = candidates
    .map((candidate, index) => {
      const { atCap, weight } = unitOf(candidate.cls, terms.scheduleType, rounding);
      const p = Number(candidate.amount);
      return { index, key: (atCap.slope * p + atCap.constant) / (p * weight) };
    })
    .sort((a, b) => b.key - a.key);
  let worst: Apr | null = null;
  let worstIndex = 0;
  let sinceYield = 0;
  for (const { index } of order) {
    // The server's other requests (payments) are served between slices of a long check.
    if (++sinceYield === 4_096) {
      sinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (worst && atMost(index, worst.percentE4)) continue;
    if (worst && !exact.has(index)) {
      const { cls, amount } = candidates[index]!;
      if (flowsAtMost(flowsOf(terms, rate, rounding, cls, amount), worst.percentE4)) continue;
    }
    const apr = solve(index);
    // Ties keep the first in the exhaustive order, so the loan named does not hang on the screening.
    if (
      !worst ||
      apr.percentE4 > worst.percentE4 ||
      (apr.percentE4 === worst.percentE4 && index < worstIndex)
    ) {
      worst = apr;
      worstIndex = index;
    }
  }
  if (worst!.percentE4 > APR_CAP_PERCENT_E4) {
    for (let index = 0; index < candidates.length; index++) {
      if (!atMost(index, APR_CAP_PERCENT_E4)) assertAprWithinCap(solve(index));
    }
  }
  const { cls, amount } = candidates[worstIndex]!;
  return highestBetween(terms, rate, rounding, classes, {
    apr: worst!,
    exact: true,
    at: { amount, term: cls.term, start: cls.start },
  });
}

/**
 * Raises the highest APR of the end amounts to that of every amount between, refusing one above
 * the cap (APR_ABOVE_CAP, the first in the order term, start date, amount) and a product whose
 * amounts are too many to prove within the cap (LOAN_PRODUCT_INVALID).
 *
 * For a schedule class the bound proves every amount above some size within a level; the lower
 * the level, the larger that size. At the level of the ends that may leave millions of amounts (a
 * class whose unrounded APR is a hair under it), so the level scanned at is the lowest whose
 * amounts to judge fit the budget: every amount the scan meets above the level raises it, exactly;
 * if none does, the level itself is the answer, proven but not met by any loan.
 */
async function highestBetween(
  terms: AprCheckTerms,
  rate: Fraction,
  rounding: RoundingMode,
  classes: readonly ScheduleClass[],
  ends: HighestApr,
): Promise<HighestApr> {
  if (terms.maxAmount - terms.minAmount < 2n) return ends;
  const units = classes.map((cls) => unitOf(cls, terms.scheduleType, rounding));
  // The last amount of a class left to judge one by one at a level: those above are proven.
  const lastUnproven = (index: number, limitE4: bigint): bigint => {
    const from = provenFrom(units[index]!, limitE4);
    const first = Number.isFinite(from) ? BigInt(Math.floor(from)) + 1n : terms.maxAmount;
    return first - 1n < terms.maxAmount - 1n ? first - 1n : terms.maxAmount - 1n;
  };
  const stepsAt = (limitE4: bigint): number => {
    let steps = 0;
    for (let index = 0; index < classes.length; index++) {
      const upTo = lastUnproven(index, limitE4);
      if (upTo > terms.minAmount) steps += Number(upTo - terms.minAmount) * classes[index]!.term;
    }
    return steps;
  };
  const capSteps = stepsAt(APR_CAP_PERCENT_E4);
  if (capSteps > AMOUNT_SCAN_BUDGET) {
    let provenFromAmount = 0n;
    for (let index = 0; index < classes.length; index++) {
      const upTo = lastUnproven(index, APR_CAP_PERCENT_E4) + 1n;
      if (upTo > provenFromAmount) provenFromAmount = upTo;
    }
    throw new MilletError(
      'LOAN_PRODUCT_INVALID',
      `the APR of loans just above the minimum amount may pass the ${formatPercentE4(APR_CAP_PERCENT_E4)}% cap ` +
        `through fen rounding and is too costly to check amount by amount: raise the minimum amount ` +
        `to ${formatMinorUnits(provenFromAmount, 'CNY')} or lower the rate`,
      { proven_from: provenFromAmount.toString() },
    );
  }
  // The lowest level (from the ends' APR up to the cap) whose amounts fit the budget.
  const budget = capSteps + HIGHEST_SCAN_BUDGET;
  let level = ends.apr.percentE4;
  if (level < APR_CAP_PERCENT_E4 && stepsAt(level) > budget) {
    let lo = level; // too many
    let hi = APR_CAP_PERCENT_E4; // fits
    let step = 1n;
    while (lo + step < hi && stepsAt(lo + step) > budget) {
      lo += step;
      step *= 2n;
    }
    if (lo + step < hi) hi = lo + step;
    while (hi - lo > 1n) {
      const mid = (lo + hi) / 2n;
      if (stepsAt(mid) > budget) lo = mid;
      else hi = mid;
    }
    level = hi;
  }
  let best: HighestApr =
    level === ends.apr.percentE4 ? ends : { apr: aprOfE4(level), exact: false, at: null };
  let sinceYield = 0;
  for (let index = 0; index < classes.length; index++) {
    const cls = classes[index]!;
    for (let amount = terms.minAmount + 1n; amount <= lastUnproven(index, level); amount++) {
      if (++sinceYield === 2_000) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
      const flows = flowsOf(terms, rate, rounding, cls, amount);
      if (flowsAtMost(flows, level)) continue;
      const apr = aprOfPeriodicFlows(flows, 12);
      if (apr.percentE4 > APR_CAP_PERCENT_E4) {
        throw new MilletError(
          'APR_ABOVE_CAP',
          `a loan of ${formatMinorUnits(amount, 'CNY')} in ${cls.term} monthly instalments is at APR ${apr.percent}%, ` +
            `above the ${formatPercentE4(APR_CAP_PERCENT_E4)}% ceiling on the comprehensive cost`,
          {
            apr_percent: apr.percent,
            cap_percent: formatPercentE4(APR_CAP_PERCENT_E4),
            amount: amount.toString(),
            terms: cls.term,
          },
        );
      }
      if (apr.percentE4 > level) {
        level = apr.percentE4;
        best = { apr, exact: true, at: { amount, term: cls.term, start: cls.start } };
      }
    }
  }
  return best;
}

function aprOfE4(percentE4: bigint): Apr {
  return { percent: formatPercentE4(percentE4), percentE4, rounding: 'half_even' };
}

/**
 * `aprAtMost` for monthly flows, its exact NPV sign skipped when the NPV in floats is negative by far
 * more than the floats' error: Horner's rule over at most 61 flows errs by under 2 × 61 × 2⁻⁵³ of the
 * flows' size (1.4e-14), and 1e-12 leaves a margin of 70 (the tighter screen spares the exact sign
 * for most amounts scanned close to the highest APR).
 */
function flowsAtMost(flows: readonly bigint[], limitE4: bigint): boolean {
  const v = 1 / (1 + rhoOf(limitE4));
  let npv = 0;
  let size = 0;
  for (let k = flows.length - 1; k >= 0; k--) {
    const amount = Number(flows[k]!);
    npv = npv * v + amount;
    size += Math.abs(amount);
  }
  if (npv < -1e-12 * size) return true;
  return aprAtMost(flows, 12, limitE4);
}

/** The periods of a class (those of its first start date). */
function periodsOf(node: TrieNode): Period[] {
  const periods: Period[] = [];
  for (let at: TrieNode | null = node; at?.period; at = at.parent) periods.push(at.period);
  return periods.reverse();
}

function flowsOf(
  terms: AprCheckTerms,
  rate: Fraction,
  rounding: RoundingMode,
  cls: ScheduleClass,
  amount: bigint,
): bigint[] {
  const periods = (cls.periods ??= periodsOf(cls.node));
  if (terms.scheduleType === 'equal_instalments')
    cls.annuity ??= annuityFactor(periods.map((period) => multiply(rate, period.fraction)));
  const schedule = amortise(
    { principal: amount, annualRate: rate, type: terms.scheduleType, dayCount: terms.dayCount, rounding },
    periods,
    { annuity: cls.annuity },
  );
  return [-amount, ...schedule.map((i) => i.total)];
}

/**
 * Every distinct period sequence of every term over the cycle, in the order of the terms and then
 * of their first start date. A term's periods are the first ones of the longest term's (due dates
 * count from the start), so the sequences form a trie walked once per start date.
 */
async function scheduleClasses(terms: AprCheckTerms, rate: Fraction): Promise<ScheduleClass[]> {
  const wanted = [...new Set(terms.terms)];
  const byTerm = new Map<number, ScheduleClass[]>(wanted.map((n) => [n, []]));
  const longest = Math.max(...wanted);
  const root: TrieNode = { parent: null, period: null, rate: 0, children: new Map() };
  // A due date depends only on the start's month and day, and a period (from, to) recurs in many
  // start dates' sequences: both are worked out once.
  const dues = new Map<string, string>();
  const fractions = new Map<string, { key: string; rate: number; fraction: Fraction }>();
  for (let day = 0; day < CYCLE_DAYS; day++) {
    if (day % 256 === 255) await new Promise((resolve) => setImmediate(resolve));
    const startDate = new Date(CYCLE_START_MS + day * 86_400_000);
    const start = startDate.toISOString().slice(0, 10);
    const month = startDate.getUTCFullYear() * 12 + startDate.getUTCMonth();
    const dayOfMonth = startDate.getUTCDate();
    let node = root;
    let previous = start;
    for (let k = 1; k <= longest; k++) {
      const dueKey = `${month + k} ${dayOfMonth}`;
      let due = dues.get(dueKey);
      if (due === undefined) {
        due = addMonthsClamped(start, k);
        dues.set(dueKey, due);
      }
      const span = `${previous}${due}`;
      let period = fractions.get(span);
      if (!period) {
        const f = yearFraction(terms.dayCount, previous, due, 1);
        period = { key: `${f.n}/${f.d}`, rate: Number(rate.n * f.n) / Number(rate.d * f.d), fraction: f };
        fractions.set(span, period);
      }
      let child = node.children.get(period.key);
      if (!child) {
        child = {
          parent: node,
          period: { start: previous, due, fraction: period.fraction },
          rate: period.rate,
          children: new Map(),
        };
        node.children.set(period.key, child);
        byTerm.get(k)?.push({ term: k, start, node: child });
      }
      node = child;
      previous = due;
    }
  }
  return wanted.flatMap((n) => byTerm.get(n)!);
}

/**
 * A schedule of one unit lent with no rounding, in floats: the opening balances bₖ (so an amount p
 * owes p·bₖ before rounding), how far rounding can move a balance (Δₖ fen), and the smallest amount
 * from which the schedule's guards (no negative principal, a fen kept for each later period)
 * cannot trigger, so the Δₖ hold.
 */
interface UnitSchedule {
  readonly rates: number[];
  readonly balances: number[];
  readonly drift: number[];
  /** The most one rounding adds to an interest amount (fen). */
  readonly roundUp: number;
  readonly safeFrom: number;
  /** Σ discount × balance at the cap: scales the bound to an APR for ordering. */
  readonly weight: number;
  /** `npvBound` at the cap. */
  readonly atCap: BoundLine;
  /** `npvBound` at the last limit asked for. */
  last?: { readonly rho: number; readonly from: number };
}

function unitOf(cls: ScheduleClass, type: ScheduleType, rounding: RoundingMode): UnitSchedule {
  if (cls.unit) return cls.unit;
  const rates: number[] = [];
  for (let node: TrieNode | null = cls.node; node && node.parent; node = node.parent) rates.push(node.rate);
  rates.reverse();
  const n = rates.length;
  // |rounding error| of one divRound: half modes half a fen, directed modes under one.
  const half = rounding.startsWith('half_');
  const anyError = half ? 0.5 : 1;
  const roundUp = half ? 0.5 : rounding === 'down' || rounding === 'floor' ? 0 : 1;
  const balances: number[] = [1];
  const drift: number[] = [0];
  let safeFrom = 0;
  if (type === 'equal_instalments') {
    let discount = 1;
    let annuity = 0;
    for (const r of rates) {
      discount /= 1 + r;
      annuity += discount;
    }
    const instalment = 1 / annuity;
    for (let k = 0; k < n - 1; k++) {
      // Balance after period k: interest added, instalment taken; both rounded (± anyError each).
      balances.push(balances[k]! * (1 + rates[k]!) - instalment);
      drift.push(drift[k]! * (1 + rates[k]!) + 2 * anyError);
      const principalPart = instalment - balances[k]! * rates[k]!;
      safeFrom = Math.max(
        safeFrom,
        principalPart > 0 ? (2 * anyError + drift[k]! * rates[k]!) / principalPart : Infinity,
      );
    }
  } else if (type === 'equal_principal') {
    for (let k = 1; k < n; k++) {
      balances.push(1 - k / n);
      drift.push(k * anyError);
    }
  } else {
    for (let k = 1; k < n; k++) {
      balances.push(1);
      drift.push(0);
    }
  }
  if (type !== 'interest_first') {
    // The balance opening period k (1-based k + 1 here) keeps a fen for each period left.
    for (let k = 1; k < n; k++) {
      safeFrom = Math.max(safeFrom, balances[k]! > 0 ? (n - k + drift[k]!) / balances[k]! : Infinity);
    }
  }
  let weight = 0;
  let w = 1;
  const rho = rhoOf(APR_CAP_PERCENT_E4);
  for (let k = 0; k < n; k++) {
    w /= 1 + rho;
    weight += w * balances[k]!;
  }
  const unit = {
    rates,
    balances,
    drift,
    roundUp,
    safeFrom,
    weight,
    atCap: npvBound(rates, balances, drift, roundUp, rho),
  };
  cls.unit = unit;
  return unit;
}

/** The monthly rate half a unit (0.00005%) above an APR of `percentE4`: where `aprAtMost` looks. */
function rhoOf(percentE4: bigint): number {
  return (2 * Number(percentE4) + 1) / 24_000_000;
}

/**
 * Upper bounds of an NPV as lines in the amount p (slope·p + constant): one that holds from the
 * unit schedule's `safeFrom`, and a cruder one for any amount, when no period's rate is above ρ.
 */
interface BoundLine {
  readonly slope: number;
  readonly constant: number;
  readonly anyAmount: { readonly slope: number; readonly constant: number } | null;
}

/**
 * Upper bounds of the NPV (fen) at monthly rate ρ of the rounded schedule of an amount p. With
 * opening balances Bₖ, interest Bₖrₖ + eₖ (eₖ its rounding) and the balance repaid by the last
 * instalment, the NPV of −p and the instalments at ρ is exactly Σₖ vᵏ (Bₖ(rₖ − ρ) + eₖ), v = 1/(1+ρ)
 * (summation by parts). With Bₖ = p·bₖ ± Δₖ that is at most
 * p·Σ vᵏ bₖ(rₖ − ρ) + Σ vᵏ (Δₖ|rₖ − ρ| + max eₖ). Whatever the guards do, B₁ = p and every Bₖ > 0,
 * so when no rₖ is above ρ it is also at most v·p(r₁ − ρ) + Σ vᵏ max eₖ. A relative 1e-9 covers the
 * floats.
 */
function npvBound(
  rates: readonly number[],
  balances: readonly number[],
  drift: readonly number[],
  roundUp: number,
  rho: number,
): BoundLine {
  let w = 1;
  let slope = 0;
  let constant = 0;
  let roundings = 0;
  let cheap = true;
  for (let k = 0; k < rates.length; k++) {
    w /= 1 + rho;
    const excess = rates[k]! - rho;
    if (excess > 0 && k > 0) cheap = false;
    slope += w * balances[k]! * excess;
    constant += w * (drift[k]! * (excess < 0 ? -excess : excess) + roundUp);
    roundings += w * roundUp;
  }
  const tolerance = 1e-9 * rates.length;
  return {
    slope: slope + tolerance,
    constant,
    anyAmount: cheap ? { slope: (rates[0]! - rho) / (1 + rho) + tolerance, constant: roundings } : null,
  };
}

/** The amount above which `line` proves the NPV negative (Infinity if none). */
function provenAbove(line: BoundLine, safeFrom: number): number {
  const viaBalances = line.slope < 0 ? Math.max(safeFrom, line.constant / -line.slope) : Infinity;
  const any = line.anyAmount;
  const viaAny = any && any.slope < 0 ? any.constant / -any.slope : Infinity;
  return Math.min(viaBalances, viaAny);
}

/** The amount above which `npvBound` proves an APR rounding to at most `limitE4`. */
function provenFrom(unit: UnitSchedule, limitE4: bigint): number {
  const rho = rhoOf(limitE4);
  if (unit.last?.rho !== rho) {
    const line = npvBound(unit.rates, unit.balances, unit.drift, unit.roundUp, rho);
    unit.last = { rho, from: provenAbove(line, unit.safeFrom) };
  }
  return unit.last.from;
}

/** Proven (by `npvBound`) that amount p's APR rounds to at most `limitE4`. */
function provenAtMost(unit: UnitSchedule, p: number, limitE4: bigint): boolean {
  return p > provenFrom(unit, limitE4);
}
