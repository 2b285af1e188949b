import { MilletError, derivedId, newId, type Clock, type RoundingMode } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import type { AccountBound, Ledger } from '../ledger/index.ts';
import { assertAllocationOrder, components, type Component } from './allocation.ts';
import { APR_CAP_PERCENT_E4, formatPercentE4 } from './apr.ts';
import { dayCounts, type DayCount } from './day-count.ts';
import { prepaymentModes, type PrepaymentMode } from './prepayment.ts';
import { formatRatePercent, parseRatePercent, type Fraction } from './rates.ts';
import { scheduleTypes, type ScheduleType } from './schedule.ts';
import { worstApr, type HighestApr } from './worst-apr.ts';

/** 200,000.00 CNY: the most a cash loan may lend (DESIGN §2.5). */
export const MAX_LOAN_AMOUNT = 20_000_000n;

export interface ProductTerms {
  name: string;
  scheduleType: ScheduleType;
  dayCount: DayCount;
  /** Annual rate, exact decimal percent ("7.2"). */
  annualRate: string;
  rounding?: RoundingMode;
  /** The numbers of monthly instalments offered, e.g. [3, 6, 12]. */
  terms: number[];
  minAmount: bigint;
  maxAmount: bigint;
  /** The lowest credit score approved. */
  minScore?: number;
  /** Identity account classes allowed to borrow (default II and III). */
  accountClasses?: Array<'I' | 'II' | 'III'>;
  allocationOrder?: Component[];
  pastDueFirst?: boolean;
  prepaymentMode?: PrepaymentMode;
  /** Days after a due date before penalty interest starts. */
  graceDays?: number;
  /** Annual penalty rate (percent) on overdue principal, actual/365, rounded down per day. */
  penaltyRate?: string;
  /** Days past due after which the loan is charged off. */
  chargeOffDays?: number;
}

export interface Product {
  id: string;
  code: string;
  version: number;
  name: string;
  scheduleType: ScheduleType;
  dayCount: DayCount;
  annualRate: string;
  rounding: RoundingMode;
  terms: number[];
  minAmount: bigint;
  maxAmount: bigint;
  minScore: number;
  accountClasses: string[];
  allocationOrder: Component[];
  pastDueFirst: boolean;
  prepaymentMode: PrepaymentMode;
  graceDays: number;
  penaltyRate: string;
  chargeOffDays: number;
  /** The highest APR over the product's terms (percent, 4 decimals), shown before the rate. */
  maxApr: string;
  /**
   * A loan at `maxApr` (null when it is a proven bound no loan meets, the cap, or the product
   * predates the search and has not been recomputed yet: see `maxAprBasis`).
   */
  maxAprAt: { amount: bigint; terms: number } | null;
  /**
   * How `maxApr` was found: over every amount (`every_amount`), at the smallest and largest amount
   * only (`ends`: made before 2026-12-04 and not yet recomputed), or the 24% ceiling (`cap`: some
   * loan of it is above the cap, and each offer and draw above it is refused).
   */
  maxAprBasis: MaxAprBasis;
  createdAt: Date;
}

export type MaxAprBasis = 'ends' | 'every_amount' | 'cap';

/** A rate (fraction of 1) in 0.0001 percentage points, rounded up: above the cap if any part is. */
function ratePercentE4(rate: Fraction): bigint {
  return (rate.n * 1_000_000n + rate.d - 1n) / rate.d;
}

export function productRate(product: Pick<Product, 'annualRate'>): Fraction {
  return parseRatePercent(product.annualRate);
}

/** The product's ledger accounts (shared by its versions), ids derived from the product code. */
export interface ProductAccounts {
  principalReceivable: string;
  interestReceivable: string;
  penaltyReceivable: string;
  interestIncome: string;
  penaltyIncome: string;
  chargeOffs: string;
  recoveries: string;
  lossProvision: string;
  provisionExpense: string;
}

const accountSpecs: Array<[keyof ProductAccounts, string, AccountBound]> = [
  ['principalReceivable', 'loan_principal_receivable', { kind: 'no_overcredit' }],
  ['interestReceivable', 'loan_interest_receivable', { kind: 'no_overcredit' }],
  ['penaltyReceivable', 'loan_penalty_receivable', { kind: 'no_overcredit' }],
  ['interestIncome', 'loan_interest_income', { kind: 'credit_only' }],
  ['penaltyIncome', 'loan_penalty_income', { kind: 'credit_only' }],
  ['chargeOffs', 'loan_charge_offs', { kind: 'unbounded' }],
  ['recoveries', 'loan_recoveries', { kind: 'credit_only' }],
  ['lossProvision', 'loan_loss_provision', { kind: 'unbounded' }],
  ['provisionExpense', 'loan_provision_expense', { kind: 'unbounded' }],
];

export function productAccounts(code: string): ProductAccounts {
  const out = {} as Record<keyof ProductAccounts, string>;
  for (const [key, name] of accountSpecs) out[key] = derivedId('lending.account', `${code}:${name}`);
  return out;
}

export async function openProductAccounts(ledger: Ledger, code: string): Promise<void> {
  const ids = productAccounts(code);
  for (const [key, name, bound] of accountSpecs) {
    await ledger.openAccount({
      id: ids[key],
      currency: 'CNY',
      code: name,
      bound,
      metadata: { product: code },
    });
  }
}

/**
 * Validates a product and returns its highest APR (percent, 4 decimals) over every term, start date
 * and amount; refuses one above 24% with APR_ABOVE_CAP.
 */
export async function checkProduct(terms: ProductTerms): Promise<string> {
  return (await productHighestApr(terms)).apr.percent;
}

/** `checkProduct` with a loan at the highest APR, or whether it is only a proven upper bound. */
export async function productHighestApr(terms: ProductTerms): Promise<HighestApr> {
  const invalid = (message: string) => new MilletError('LOAN_PRODUCT_INVALID', message);
  if (!terms.name.trim()) throw invalid('a product needs a name');
  if (!scheduleTypes.includes(terms.scheduleType)) throw invalid('unknown schedule type');
  if (!dayCounts.includes(terms.dayCount)) throw invalid('unknown day count');
  const rate = parseRatePercent(terms.annualRate);
  if (terms.terms.length === 0 || terms.terms.some((t) => !Number.isInteger(t) || t < 1 || t > 60)) {
    throw invalid('terms are 1 to 60 monthly instalments');
  }
  if (terms.minAmount <= 0n || terms.maxAmount < terms.minAmount)
    throw invalid('0 < min amount ≤ max amount');
  if (terms.maxAmount > MAX_LOAN_AMOUNT) throw invalid('a cash loan lends at most 200,000.00 CNY');
  if (terms.allocationOrder) assertAllocationOrder(terms.allocationOrder);
  if (terms.prepaymentMode && !prepaymentModes.includes(terms.prepaymentMode))
    throw invalid('unknown prepayment mode');
  if (
    terms.penaltyRate !== undefined &&
    ratePercentE4(parseRatePercent(terms.penaltyRate)) > APR_CAP_PERCENT_E4
  ) {
    // Overdue principal earns no contract interest (the schedule has it repaid), only the penalty:
    // its yearly cost is the penalty rate, and interest, penalties and fees together are held to the
    // 24% ceiling (SPC 2017 opinions on financial trials, art. 2; DESIGN §2.4).
    throw new MilletError(
      'LOAN_PRODUCT_INVALID',
      `the penalty rate ${terms.penaltyRate}% is above the ${formatPercentE4(APR_CAP_PERCENT_E4)}% ceiling on the comprehensive cost of overdue principal`,
      { penalty_rate: terms.penaltyRate, cap_percent: formatPercentE4(APR_CAP_PERCENT_E4) },
    );
  }
  if (
    terms.chargeOffDays !== undefined &&
    (!Number.isInteger(terms.chargeOffDays) || terms.chargeOffDays < 1)
  ) {
    throw invalid('charge-off days are a positive whole number');
  }
  return worstApr(terms, rate);
}

interface ProductRow {
  id: string;
  code: string;
  version: number;
  name: string;
  schedule_type: ScheduleType;
  day_count: DayCount;
  annual_rate: string;
  rounding: RoundingMode;
  terms: number[];
  min_amount: bigint;
  max_amount: bigint;
  min_score: number;
  account_classes: string[];
  allocation_order: Component[];
  past_due_first: boolean;
  prepayment_mode: PrepaymentMode;
  grace_days: number;
  penalty_rate: string;
  charge_off_days: number;
  max_apr_e4: bigint;
  max_apr_amount: bigint | null;
  max_apr_terms: number | null;
  max_apr_basis: MaxAprBasis;
  created_at: Date;
}

function toProduct(r: ProductRow): Product {
  return {
    id: r.id,
    code: r.code,
    version: r.version,
    name: r.name,
    scheduleType: r.schedule_type,
    dayCount: r.day_count,
    annualRate: formatRatePercent(parseRatePercent(String(r.annual_rate))),
    rounding: r.rounding,
    terms: r.terms.map(Number),
    minAmount: BigInt(r.min_amount),
    maxAmount: BigInt(r.max_amount),
    minScore: r.min_score,
    accountClasses: r.account_classes,
    allocationOrder: r.allocation_order,
    pastDueFirst: r.past_due_first,
    prepaymentMode: r.prepayment_mode,
    graceDays: r.grace_days,
    penaltyRate: formatRatePercent(parseRatePercent(String(r.penalty_rate))),
    chargeOffDays: r.charge_off_days,
    maxApr: formatPercentE4(BigInt(r.max_apr_e4)),
    maxAprAt:
      r.max_apr_amount === null || r.max_apr_terms === null
        ? null
        : { amount: BigInt(r.max_apr_amount), terms: Number(r.max_apr_terms) },
    maxAprBasis: r.max_apr_basis,
    createdAt: r.created_at,
  };
}

/** Creates version 1 of a product code, or (with `newVersionOf`) the next version of an existing code. */
export async function createProduct(
  db: Queryable,
  ledger: Ledger,
  clock: Clock,
  code: string,
  terms: ProductTerms,
): Promise<Product> {
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(code)) {
    throw new MilletError(
      'LOAN_PRODUCT_INVALID',
      'a product code is 1–64 lower-case letters, digits, _ or -',
    );
  }
  const highest = await productHighestApr(terms);
  // Penalty interest defaults to 1.5 × the contract rate (DESIGN §2.4's example), at most the 24%
  // ceiling (see checkProduct).
  const base = parseRatePercent(terms.annualRate);
  const oneAndHalf = { n: base.n * 15n, d: base.d * 10n };
  const penaltyRate =
    terms.penaltyRate ??
    formatRatePercent(
      ratePercentE4(oneAndHalf) > APR_CAP_PERCENT_E4 ? { n: APR_CAP_PERCENT_E4, d: 1_000_000n } : oneAndHalf,
    );
  await openProductAccounts(ledger, code);
  const { rows } = await db.query<ProductRow>(
    `INSERT INTO lending_products (id, code, version, name, schedule_type, day_count, annual_rate, rounding, terms,
       min_amount, max_amount, min_score, account_classes, allocation_order, past_due_first, prepayment_mode,
       grace_days, penalty_rate, charge_off_days, max_apr_e4, created_at, max_apr_amount, max_apr_terms,
       max_apr_basis)
     SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4, $5, $6::numeric, $7, $8::int[], $9, $10, $11, $12::text[],
       $13::text[], $14, $15, $16, $17::numeric, $18, $19, $20, $21, $22, 'every_amount'
     FROM lending_products WHERE code = $2
     RETURNING *`,
    [
      newId(),
      code,
      terms.name.trim(),
      terms.scheduleType,
      terms.dayCount,
      terms.annualRate,
      terms.rounding ?? 'half_even',
      terms.terms,
      terms.minAmount,
      terms.maxAmount,
      terms.minScore ?? 550,
      terms.accountClasses ?? ['II', 'III'],
      terms.allocationOrder ?? components,
      terms.pastDueFirst ?? true,
      terms.prepaymentMode ?? 'lower_instalment',
      terms.graceDays ?? 0,
      penaltyRate,
      terms.chargeOffDays ?? 180,
      highest.apr.percentE4,
      clock.now(),
      highest.at?.amount ?? null,
      highest.at?.term ?? null,
    ],
  );
  return toProduct(rows[0]!);
}

export async function getProduct(db: Queryable, id: string): Promise<Product> {
  const { rows } = await db.query<ProductRow>('SELECT * FROM lending_products WHERE id = $1', [id]);
  if (!rows[0]) throw new MilletError('LOAN_PRODUCT_NOT_FOUND', 'no such loan product');
  return toProduct(rows[0]);
}

/** The latest version of a product code. */
export async function latestProduct(db: Queryable, code: string): Promise<Product> {
  const { rows } = await db.query<ProductRow>(
    'SELECT * FROM lending_products WHERE code = $1 ORDER BY version DESC LIMIT 1',
    [code],
  );
  if (!rows[0]) throw new MilletError('LOAN_PRODUCT_NOT_FOUND', 'no such loan product');
  return toProduct(rows[0]);
}

/** The latest version of every product, or every version of one code. */
export async function listProducts(db: Queryable, code?: string): Promise<Product[]> {
  const { rows } = code
    ? await db.query<ProductRow>('SELECT * FROM lending_products WHERE code = $1 ORDER BY version', [code])
    : await db.query<ProductRow>(
        `SELECT DISTINCT ON (code) * FROM lending_products ORDER BY code, version DESC`,
      );
  return rows.map(toProduct);
}

/** Products whose max APR was found at the ends of the amount range only, in id order after `after`. */
export async function endsOnlyProducts(
  db: Queryable,
  after: string | null,
  limit: number,
): Promise<Product[]> {
  const { rows } = await db.query<ProductRow>(
    `SELECT * FROM lending_products WHERE max_apr_basis = 'ends' AND ($1::uuid IS NULL OR id > $1::uuid)
      ORDER BY id LIMIT $2`,
    [after, limit],
  );
  return rows.map(toProduct);
}

/** How many products after `after` (id order; all when null) still have an ends-only max APR. */
export async function countEndsOnlyProducts(db: Queryable, after: string | null): Promise<number> {
  const { rows } = await db.query<{ n: bigint }>(
    `SELECT count(*)::int8 AS n FROM lending_products
      WHERE max_apr_basis = 'ends' AND ($1::uuid IS NULL OR id > $1::uuid)`,
    [after],
  );
  return Number(rows[0]?.n ?? 0n);
}

/**
 * Replaces an ends-only max APR with the one found over every amount (or the cap). Only while the
 * row is still ends-only: two runners writing the same page write it once. True when written.
 */
export async function replaceEndsOnlyMaxApr(
  db: Queryable,
  id: string,
  max: { percentE4: bigint; at: { amount: bigint; terms: number } | null; basis: 'every_amount' | 'cap' },
): Promise<boolean> {
  const result = await db.query(
    `UPDATE lending_products SET max_apr_e4 = $2, max_apr_amount = $3, max_apr_terms = $4, max_apr_basis = $5
      WHERE id = $1 AND max_apr_basis = 'ends'`,
    [id, max.percentE4, max.at?.amount ?? null, max.at?.terms ?? null, max.basis],
  );
  return result.rowCount > 0;
}
