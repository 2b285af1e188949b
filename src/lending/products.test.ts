import { describe, expect, it } from 'vitest';
import { aprOfPeriodicFlows, formatPercentE4 } from './apr.ts';
import { checkProduct, productHighestApr, type ProductTerms } from './products.ts';
import { parseRatePercent } from './rates.ts';
import { amortise, buildSchedule, monthlyPeriods } from './schedule.ts';
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
    // 23.5% × 31/365 × 12 = 23.9507%; the fen rounding of the interest adds a little, most on
    // 1,002.31 CNY over one 31-day month (1,000.00 CNY, the smallest amount, is at 23.9520%).
    expect(maxApr).toBe('23.9567');
    expect(aprFrom(fair, 100_231n, 1, '2024-01-01')).toBe(239_567n);
    expect(aprFrom(fair, fair.minAmount, 1, '2024-01-01')).toBe(239_520n);
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

/** The highest APR the slow way: every start date of the cycle, every term, both amounts, solved. */
function exhaustiveMaxApr(terms: ProductTerms): { max: bigint; firstAboveCap: bigint | null } {
  let max = -1n;
  let firstAboveCap: bigint | null = null;
  const amounts =
    terms.minAmount === terms.maxAmount ? [terms.minAmount] : [terms.minAmount, terms.maxAmount];
  for (const n of terms.terms)
    for (let day = 0; day < 1_461; day++) {
      const start = new Date(Date.UTC(2024, 0, 1 + day)).toISOString().slice(0, 10);
      for (const amount of amounts) {
        const apr = aprFrom(terms, amount, n, start);
        if (apr > max) max = apr;
        if (firstAboveCap === null && apr > 240_000n) firstAboveCap = apr;
      }
    }
  return { max, firstAboveCap };
}

describe('checkProduct screens start dates without weakening the check', () => {
  const products: ProductTerms[] = [
    { ...base, dayCount: 'actual/actual', annualRate: '23', terms: [1, 2, 7] },
    { ...base, scheduleType: 'equal_principal', annualRate: '22', terms: [3, 13] },
    { ...base, scheduleType: 'interest_first', dayCount: 'actual/actual', annualRate: '21', terms: [6] },
    { ...base, dayCount: 'actual/actual', annualRate: '23.2', rounding: 'up', terms: [2, 5] },
    { ...base, dayCount: 'actual/actual', annualRate: '23.9', terms: [4, 12] },
  ];
  it.each(products.map((p) => [`${p.scheduleType} ${p.dayCount} ${p.annualRate}% ${p.terms.join(',')}`, p]))(
    'gives the exhaustive answer: %s',
    async (_label, product) => {
      const { max, firstAboveCap } = exhaustiveMaxApr(product);
      if (firstAboveCap === null) {
        // Amounts between may be dearer than both ends: at least the ends' highest, and met by the
        // loan named.
        const highest = await productHighestApr(product);
        expect(highest.apr.percentE4).toBeGreaterThanOrEqual(max);
        expect(highest.exact).toBe(true);
        const { amount, term, start } = highest.at!;
        expect(aprFrom(product, amount, term, start)).toBe(highest.apr.percentE4);
      } else {
        const refused = await rejection(checkProduct(product));
        expect([refused.code, refused.details?.apr_percent]).toEqual([
          'APR_ABOVE_CAP',
          formatPercentE4(firstAboveCap),
        ]);
      }
    },
    30_000,
  );
});

describe('checkProduct and amounts between the smallest and the largest', () => {
  it('refuses a product whose APR is within the cap at both amounts but not at one between', async () => {
    // 23.99% / 12 on 100.00 is 1.99917 → 2.00: 24.0000% APR, and 23.99% at 10,000.00; but on 100.30
    // the interest 2.00516 rounds (half-even) to 2.01: 24.0479%.
    const edge: ProductTerms = {
      ...base,
      dayCount: '30/360',
      annualRate: '23.99',
      terms: [1],
      minAmount: 10_000n,
      maxAmount: 1_000_000n,
    };
    expect(aprFrom(edge, edge.minAmount, 1, '2024-01-31')).toBe(240_000n);
    expect(aprFrom(edge, edge.maxAmount, 1, '2024-01-31')).toBeLessThanOrEqual(240_000n);
    expect(aprFrom(edge, 10_030n, 1, '2024-01-31')).toBe(240_479n);
    const refused = await rejection(checkProduct(edge));
    expect([refused.code, refused.details]).toEqual([
      'APR_ABOVE_CAP',
      { apr_percent: '24.0479', cap_percent: '24.0000', amount: '10030', terms: 1 },
    ]);
    // Rounding up makes the first fen above the minimum the dearest.
    const up = { ...edge, annualRate: '23.9', rounding: 'up' as const, minAmount: 100n };
    expect((await rejection(checkProduct(up))).details).toMatchObject({
      amount: '101',
      apr_percent: '35.6436',
    });
  });

  it('accepts a product whose every amount is within the cap, and refuses one too costly to prove', async () => {
    const cheap = {
      ...base,
      dayCount: '30/360' as const,
      annualRate: '7',
      terms: [6, 12],
      minAmount: 10_000n,
    };
    // 7.0120% at 100.00 CNY, 7.0452% at 103.73 CNY.
    expect(await checkProduct(cheap)).toBe('7.0452');
    // From 1.00 CNY over up to 60 months the fen roundings weigh too much for the bound below
    // 38.42 CNY, and that many amounts × terms are too many to check one by one.
    const tiny = {
      ...base,
      dayCount: '30/360' as const,
      annualRate: '20',
      terms: Array.from({ length: 60 }, (_, i) => i + 1),
      minAmount: 100n,
      maxAmount: 20_000_000n,
    };
    const refused = await rejection(checkProduct(tiny));
    expect([refused.code, refused.details]).toEqual(['LOAN_PRODUCT_INVALID', { proven_from: '3842' }]);
    // Too many amounts to find the dearest one by one: a proven bound, above the 20.1953% of
    // 38.71 CNY over two months (and the ends' 20.0483%).
    const bounded = await productHighestApr({ ...tiny, minAmount: 3_842n });
    expect([bounded.apr.percent, bounded.exact, bounded.at]).toEqual(['20.2357', false, null]);
    expect(aprFrom(tiny, 3_871n, 2, '2024-01-31')).toBe(201_953n);
  });
});

/**
 * The highest APR over every amount the slow way: every term, every distinct sequence of period
 * fractions over the cycle (start dates sharing one share a schedule), every amount, solved.
 */
function everyAmountMaxApr(terms: ProductTerms): { max: bigint; amounts: bigint[] } {
  const rate = parseRatePercent(terms.annualRate);
  let max = -1n;
  let amounts: bigint[] = [];
  for (const n of terms.terms) {
    const seen = new Set<string>();
    for (let day = 0; day < 1_461; day++) {
      const start = new Date(Date.UTC(2024, 0, 1 + day)).toISOString().slice(0, 10);
      const periods = monthlyPeriods(start, n, terms.dayCount);
      const key = periods.map((p) => `${p.fraction.n}/${p.fraction.d}`).join(' ');
      if (seen.has(key)) continue;
      seen.add(key);
      for (let amount = terms.minAmount; amount <= terms.maxAmount; amount++) {
        const schedule = amortise(
          {
            principal: amount,
            annualRate: rate,
            type: terms.scheduleType,
            dayCount: terms.dayCount,
            rounding: terms.rounding,
          },
          periods,
        );
        const apr = aprOfPeriodicFlows([-amount, ...schedule.map((i) => i.total)], 12).percentE4;
        if (apr > max) [max, amounts] = [apr, []];
        if (apr === max) amounts.push(amount);
      }
    }
  }
  return { max, amounts };
}

describe('max APR over every amount between the smallest and the largest', () => {
  const small: ProductTerms[] = [
    { ...base, dayCount: '30/360', annualRate: '7', terms: [6, 12], minAmount: 10_000n, maxAmount: 10_600n },
    { ...base, annualRate: '23.5', terms: [1, 3], minAmount: 100_000n, maxAmount: 100_400n },
    {
      ...base,
      dayCount: 'actual/actual',
      annualRate: '19.9',
      terms: [2],
      minAmount: 5_000n,
      maxAmount: 5_500n,
    },
    {
      ...base,
      scheduleType: 'equal_principal',
      dayCount: '30/360',
      annualRate: '15',
      terms: [3, 4],
      minAmount: 2_000n,
      maxAmount: 2_600n,
    },
    {
      ...base,
      scheduleType: 'interest_first',
      dayCount: '30/360',
      annualRate: '12',
      rounding: 'up',
      terms: [2],
      minAmount: 3_000n,
      maxAmount: 3_900n,
    },
  ];
  it.each(small.map((p) => [`${p.scheduleType} ${p.dayCount} ${p.annualRate}% ${p.terms.join(',')}`, p]))(
    'is the brute force over every amount, with a loan that has it: %s',
    async (_label, product) => {
      const { max, amounts } = everyAmountMaxApr(product);
      const highest = await productHighestApr(product);
      expect(highest.exact).toBe(true);
      expect(highest.apr.percent).toBe(formatPercentE4(max));
      expect(amounts).toContain(highest.at!.amount);
    },
    30_000,
  );

  it('finds a loan in the middle dearer than both ends', async () => {
    // 7% over 12 months in 30/360: 100.00 and 106.00 are at 7.0120% and 7.0114%, but rounding the
    // instalment of 103.73 up makes it 7.0452%.
    const product = small[0]!;
    expect(aprFrom(product, product.minAmount, 12, '2024-01-31')).toBe(70_120n);
    expect(aprFrom(product, product.maxAmount, 12, '2024-01-31')).toBeLessThan(70_452n);
    expect(aprFrom(product, 10_373n, 12, '2024-01-31')).toBe(70_452n);
    expect(await checkProduct(product)).toBe('7.0452');
    expect((await productHighestApr(product)).at).toEqual({ amount: 10_373n, term: 12, start: '2024-01-01' });
  });

  it('over a range too wide to scan, gives a proven bound at or above every loan, quickly', async () => {
    const wide: ProductTerms = { ...small[0]!, maxAmount: 10_000_000n };
    const started = performance.now();
    const highest = await productHighestApr(wide);
    const elapsed = performance.now() - started;
    // The dearest amount of the narrow range is also the dearest of the wide one (brute force over
    // 100.00–10,000.00 CNY, too slow for a unit test, found 7.0452% at 103.73 CNY).
    expect(highest.apr.percentE4).toBeGreaterThanOrEqual(70_452n);
    expect(highest.apr.percentE4).toBeLessThan(70_600n);
    if (!highest.exact) expect(highest.at).toBeNull();
    for (const amount of [10_373n, 13_465n, 1_234_567n, 9_999_999n])
      for (const n of wide.terms)
        expect(aprFrom(wide, amount, n, '2024-01-31')).toBeLessThanOrEqual(highest.apr.percentE4);
    expect(elapsed).toBeLessThan(5_000);
  });
});

describe('checkProduct and penalty interest', () => {
  it('refuses a penalty rate above the 24% ceiling, and accepts one at it', async () => {
    const refused = await rejection(checkProduct({ ...base, annualRate: '12', penaltyRate: '24.00000001' }));
    expect([refused.code, refused.details]).toEqual([
      'LOAN_PRODUCT_INVALID',
      { penalty_rate: '24.00000001', cap_percent: '24.0000' },
    ]);
    expect(await checkProduct({ ...base, annualRate: '12', penaltyRate: '24' })).toMatch(/^12\./);
  });
});
