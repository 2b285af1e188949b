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
import type { Fraction } from './rates.ts';
import { amortise, type Period, type ScheduleType } from './schedule.ts';

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
}

interface TrieNode {
  readonly parent: TrieNode | null;
  readonly period: Period | null;
  /** The periodic rate of the node's period, in floats (screening only). */
  readonly rate: number;
  readonly children: Map<string, TrieNode>;
}

/**
 * The highest APR any loan of the product can have, refusing (APR_ABOVE_CAP) when one is above
 * the cap: for each term, from every start date of a full leap-year cycle, at the smallest and the
 * largest amount — and every amount between is proven within the cap too. With `actual/365` or
 * `actual/actual` the period lengths, so the instalments and the APR, depend on the start date (a
 * one-month loan over a 31-day month costs 31/365 of the rate, × 12 = 1.9% more than the rate).
 * Start dates giving the same period fractions give the same schedule, so each distinct sequence
 * is judged once (30/360 has only one).
 *
 * Most sequences are far from the dearest: an exact bound (below, `npvBound`) proves them no
 * dearer than the dearest found so far without building their schedule, so only a few are
 * amortised and solved exactly; the result is the one solving all of them gives.
 */
export async function worstApr(terms: AprCheckTerms, rate: Fraction): Promise<Apr> {
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
    if (!worst || apr.percentE4 > worst.percentE4) worst = apr;
  }
  if (worst!.percentE4 > APR_CAP_PERCENT_E4) {
    for (let index = 0; index < candidates.length; index++) {
      if (!atMost(index, APR_CAP_PERCENT_E4)) assertAprWithinCap(solve(index));
    }
  }
  await assertAmountsBetweenWithinCap(terms, rate, rounding, classes);
  return worst!;
}

/**
 * Amounts between the smallest and the largest round differently (a fen of interest rounded up
 * weighs most on a small loan), so the cap at both ends does not prove it between. The bound
 * proves every amount from some size on; the ones below it are checked one by one.
 */
async function assertAmountsBetweenWithinCap(
  terms: AprCheckTerms,
  rate: Fraction,
  rounding: RoundingMode,
  classes: readonly ScheduleClass[],
): Promise<void> {
  if (terms.maxAmount - terms.minAmount < 2n) return;
  const scans: Array<{ cls: ScheduleClass; upTo: bigint }> = [];
  let steps = 0;
  let provenFrom = 0n;
  for (const cls of classes) {
    const unit = unitOf(cls, terms.scheduleType, rounding);
    const from = provenAbove(unit.atCap, unit.safeFrom);
    const firstProven = Number.isFinite(from) ? BigInt(Math.floor(from)) + 1n : terms.maxAmount;
    if (firstProven > provenFrom) provenFrom = firstProven;
    const upTo = firstProven - 1n < terms.maxAmount - 1n ? firstProven - 1n : terms.maxAmount - 1n;
    if (upTo <= terms.minAmount) continue;
    scans.push({ cls, upTo });
    steps += Number(upTo - terms.minAmount) * cls.term;
  }
  if (steps > AMOUNT_SCAN_BUDGET) {
    throw new MilletError(
      'LOAN_PRODUCT_INVALID',
      `the APR of loans just above the minimum amount may pass the ${formatPercentE4(APR_CAP_PERCENT_E4)}% cap ` +
        `through fen rounding and is too costly to check amount by amount: raise the minimum amount ` +
        `to ${formatMinorUnits(provenFrom, 'CNY')} or lower the rate`,
      { proven_from: provenFrom.toString() },
    );
  }
  let sinceYield = 0;
  for (const { cls, upTo } of scans) {
    for (let amount = terms.minAmount + 1n; amount <= upTo; amount++) {
      if (++sinceYield === 2_000) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
      const flows = flowsOf(terms, rate, rounding, cls, amount);
      if (flowsAtMost(flows, APR_CAP_PERCENT_E4)) continue;
      const apr = aprOfPeriodicFlows(flows, 12);
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
  }
}

/**
 * `aprAtMost` for monthly flows, its exact NPV sign skipped when the NPV in floats is negative by far
 * more than the floats' error (under 1e-12 of the flows' size).
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
  if (npv < -1e-9 * size) return true;
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
  const schedule = amortise(
    { principal: amount, annualRate: rate, type: terms.scheduleType, dayCount: terms.dayCount, rounding },
    (cls.periods ??= periodsOf(cls.node)),
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

/** Proven (by `npvBound`) that amount p's APR rounds to at most `limitE4`. */
function provenAtMost(unit: UnitSchedule, p: number, limitE4: bigint): boolean {
  const rho = rhoOf(limitE4);
  if (unit.last?.rho !== rho) {
    const line = npvBound(unit.rates, unit.balances, unit.drift, unit.roundUp, rho);
    unit.last = { rho, from: provenAbove(line, unit.safeFrom) };
  }
  return p > unit.last.from;
}
