import { describe, expect, it } from 'vitest';
import { aprOfPeriodicFlows } from './apr.ts';
import { checkProduct, type ProductTerms } from './products.ts';
import { parseRatePercent } from './rates.ts';
import { buildSchedule } from './schedule.ts';
import { rejection } from '../../test/support/rejection.ts';

const base: ProductTerms = {
  name: 'Monthly',
  scheduleType: 'equal_instalments',
  dayCount: 'actual/365',
  annualRate: '23.8',
  terms: [1, 3, 6, 12],
  minAmount: 100_000n,
  maxAmount: 10_000_000n,
};

function aprFrom(terms: ProductTerms, amount: bigint, n: number, start: string): bigint {
  const schedule = buildSchedule({
    principal: amount,
    annualRate: parseRatePercent(terms.annualRate),
    type: terms.scheduleType,
    dayCount: terms.dayCount,
    rounding: terms.rounding,
    start,
    terms: n,
  });
  return aprOfPeriodicFlows([-amount, ...schedule.map((i) => i.total)], 12).percentE4;
}

describe('checkProduct and the 24% APR cap', () => {
  it('refuses a product whose loan from some start date is above 24% APR though 2024-01-31 is not', async () => {
    // One month from 2024-01-31 has 29 days: 23.8% gives 22.7% APR; from 2024-01-01 (31 days) 24.26%.
    expect(aprFrom(base, base.maxAmount, 1, '2024-01-31')).toBeLessThanOrEqual(240_000n);
    expect(aprFrom(base, base.maxAmount, 1, '2024-01-01')).toBeGreaterThan(240_000n);
    expect((await rejection(checkProduct(base))).code).toBe('APR_ABOVE_CAP');
    // Twelve months at 23.9% are within the cap from 2024-01-31 but not from 2027-07-01 (the
    // period spanning 2028-02-29).
    const yearly = { ...base, annualRate: '23.9', terms: [12, 24] };
    expect(aprFrom(yearly, yearly.maxAmount, 12, '2024-01-31')).toBeLessThanOrEqual(240_000n);
    expect(aprFrom(yearly, yearly.maxAmount, 12, '2027-07-01')).toBeGreaterThan(240_000n);
    expect((await rejection(checkProduct(yearly))).code).toBe('APR_ABOVE_CAP');
  });

  it('gives as max APR the dearest start date, term and amount', async () => {
    const fair = { ...base, annualRate: '23.5' };
    const maxApr = await checkProduct(fair);
    // 23.5% × 31/365 × 12 = 23.9507%; the fen rounding of 1,000.00 CNY's interest adds a little.
    expect(maxApr).toBe('23.9520');
    const starts = ['2024-01-01', '2024-02-29', '2025-02-28', '2025-03-31', '2026-07-31', '2027-12-31'];
    for (const n of fair.terms)
      for (const start of starts)
        for (const amount of [fair.minAmount, 1_234_567n, fair.maxAmount])
          expect(aprFrom(fair, amount, n, start)).toBeLessThanOrEqual(BigInt(maxApr.replace('.', '')));
  });

  it('prices 30/360 products the same from every start date', async () => {
    const flat = { ...base, dayCount: '30/360' as const, annualRate: '23.6' };
    const maxApr = await checkProduct(flat);
    expect(Number(maxApr)).toBeLessThanOrEqual(24);
    expect(aprFrom(flat, flat.maxAmount, 12, '2025-03-31')).toBe(
      aprFrom(flat, flat.maxAmount, 12, '2024-01-31'),
    );
  });
});
