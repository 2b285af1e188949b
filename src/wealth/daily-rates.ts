import { MilletError, businessDate, type Clock } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import { isBusinessDate } from '../jobs/index.ts';
import { INCOME_DIVISOR } from './income-allocation.ts';
import { getProduct } from './products.ts';
import { sevenDayYieldMilli } from './seven-day-yield.ts';

export interface DailyYield {
  date: string;
  /** 万份收益: income per 10,000 shares, 1/10,000 yuan. */
  incomePer10k: bigint;
  /** Compound 7-day annualised yield in thousandths of a percent; null without 7 published days. */
  sevenDayYieldMilli: bigint | null;
}

/**
 * Publishes a natural day's income per 10,000 shares for a money fund. Publishing the same rate
 * again is a no-op; another rate for a day already published is WEALTH_RATE_CONFLICT.
 */
export async function publishDailyRate(
  db: Queryable,
  clock: Clock,
  productId: string,
  date: string,
  rate: bigint,
): Promise<DailyYield> {
  const product = await getProduct(db, productId);
  if (product.kind !== 'money_fund')
    throw new MilletError('VALIDATION_FAILED', 'daily income is published for money funds only', {
      field: 'product_id',
    });
  if (!isBusinessDate(date))
    throw new MilletError('VALIDATION_FAILED', 'date must be a calendar date, YYYY-MM-DD', { field: 'date' });
  // A published day is never changed and the close pays it to every holder when it reaches it, so a
  // slipped year ("2052" for "2025") would stand for ever and be paid out decades later. The close
  // needs the day it closes, the 7-day yield the six before it; a year either side of today is
  // room for catching up and announcing ahead, and one yield request can still show every day.
  const today = businessDate(clock);
  const away = Math.abs(Date.parse(date) - Date.parse(today)) / 86_400_000;
  if (away > MAX_RATE_DAYS_AWAY)
    throw new MilletError(
      'VALIDATION_FAILED',
      `date must be within ${MAX_RATE_DAYS_AWAY} days of today (${today}); ${date} is ${away} days away (check the year)`,
      { field: 'date', date, today },
    );
  // A fast redemption made before a day's income is booked keeps back that day's worst loss: the
  // floor is what makes the reserve small (0.1% of the holding) instead of everything.
  if (rate < -MAX_DAILY_LOSS)
    throw new MilletError(
      'VALIDATION_FAILED',
      'income_per_10k may not be below -10.0000 (a loss of 0.1% in a day, far beyond any money-market fund day; such a loss is a fund event, not a daily rate)',
      { field: 'income_per_10k' },
    );
  // A published day cannot be changed (WEALTH_RATE_CONFLICT) and the close pays it from the
  // unbounded income account: a slipped decimal point ("17120" for "1.7120") would hand every holder
  // 171% of their holding, and a larger one overflow the close's int8 arithmetic so no day after it
  // could close. The same bound as the loss: 0.1% a day is about 44% a year, far beyond any fund.
  if (rate > MAX_DAILY_INCOME)
    throw new MilletError(
      'VALIDATION_FAILED',
      'income_per_10k may not be above 10.0000 (0.1% in a day, about 44% a year; check the decimal point)',
      { field: 'income_per_10k' },
    );
  await db.query(
    `INSERT INTO wealth_daily_rates (product_id, business_date, rate, published_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING`,
    [productId, date, rate, clock.now()],
  );
  const stored = await db.query<{ rate: bigint }>(
    'SELECT rate FROM wealth_daily_rates WHERE product_id = $1 AND business_date = $2',
    [productId, date],
  );
  if (stored.rows[0]!.rate !== rate)
    throw new MilletError('WEALTH_RATE_CONFLICT', `${date} was already published with another rate`, {
      date,
    });
  const [day] = await yieldSeries(db, productId, date, date);
  return day!;
}

export async function getDailyRate(db: Queryable, productId: string, date: string): Promise<bigint | null> {
  const result = await db.query<{ rate: bigint }>(
    'SELECT rate FROM wealth_daily_rates WHERE product_id = $1 AND business_date = $2',
    [productId, date],
  );
  return result.rows[0]?.rate ?? null;
}

/** The largest loss a published day may carry, per 10,000 shares (10.0000, in R's 4 decimals). */
export const MAX_DAILY_LOSS = 100_000n;

/** The largest income a published day may carry, per 10,000 shares (10.0000). */
export const MAX_DAILY_INCOME = 100_000n;

/** How far from today's business date, either way, a day's income may be published. */
export const MAX_RATE_DAYS_AWAY = 366;

/** The most days one yield series request may ask for (a year, leap years included). */
export const MAX_YIELD_DAYS = 366;

/**
 * The published days in [from, to] with their 万份收益 and 7-day yield, oldest first. The 7-day
 * yield of a day uses that day and the six natural days before it, all of which must be published.
 */

export async function yieldSeries(
  db: Queryable,
  productId: string,
  from: string,
  to: string,
): Promise<DailyYield[]> {
  for (const [field, value] of [
    ['from', from],
    ['to', to],
  ] as const)
    if (!isBusinessDate(value))
      throw new MilletError('VALIDATION_FAILED', `${field} must be a calendar date, YYYY-MM-DD`, { field });
  // A range that ends before it starts has no days: an empty list read as "nothing published".
  if (from > to)
    throw new MilletError('VALIDATION_FAILED', 'from must not be after to', { field: 'from', from, to });
  // Each day's 7-day yield is a 7th root of a ~2,000-digit integer (about a millisecond): a range is
  // capped so one request cannot ask for years of them.
  const days = (Date.parse(to) - Date.parse(from)) / 86_400_000 + 1;
  if (days > MAX_YIELD_DAYS)
    throw new MilletError('VALIDATION_FAILED', `from … to may span at most ${MAX_YIELD_DAYS} days`, {
      field: 'to',
    });
  await getProduct(db, productId);
  const start = addDays(from, -6);
  const result = await db.query<{ business_date: string; rate: bigint }>(
    `SELECT business_date, rate FROM wealth_daily_rates
     WHERE product_id = $1 AND business_date BETWEEN $2 AND $3 ORDER BY business_date`,
    [productId, start, to],
  );
  const byDate = new Map(result.rows.map((r) => [r.business_date, r.rate]));
  return result.rows
    .filter((r) => r.business_date >= from)
    .map((r) => {
      const window: bigint[] = [];
      for (let i = 6; i >= 0; i--) {
        const rate = byDate.get(addDays(r.business_date, -i));
        if (rate !== undefined) window.push(rate);
      }
      return {
        date: r.business_date,
        incomePer10k: r.rate,
        // A rate refused at publication now (≤ −10,000 per 10,000) could be stored before: no yield.
        sevenDayYieldMilli:
          window.length === 7 && window.every((rate) => rate > -INCOME_DIVISOR)
            ? sevenDayYieldMilli(window)
            : null,
      };
    });
}

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}
