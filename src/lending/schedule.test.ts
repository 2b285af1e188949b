import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateRepayment, components, type Component, type Owed } from './allocation.ts';
import { addMonthsClamped } from './calendar.ts';
import { yearFraction, type DayCount } from './day-count.ts';
import { daysPastDue, delinquencyBucket } from './delinquency.ts';
import { prepay } from './prepayment.ts';
import { parseRatePercent } from './rates.ts';
import {
  buildSchedule,
  payInInstalments,
  payoffQuote,
  unpaidInstalment,
  type Instalment,
  type InstalmentState,
} from './schedule.ts';

const unpaid = unpaidInstalment;
const paid = (i: Instalment): InstalmentState => ({
  ...unpaid(i),
  principalPaid: i.principal,
  interestPaid: i.interest,
});

describe('schedules (DESIGN §4)', () => {
  const vector1 = buildSchedule({
    principal: 10_000n,
    annualRate: parseRatePercent('7'),
    type: 'equal_instalments',
    dayCount: '30/360',
    start: '2024-01-01',
    terms: 6,
  });

  it('vector 1: 100.00 at 7%, 30/360, 6 equal instalments', () => {
    expect(vector1.map((i) => i.total)).toEqual([1701n, 1701n, 1701n, 1701n, 1701n, 1700n]);
    expect(vector1.map((i) => i.interest)).toEqual([58n, 49n, 39n, 29n, 20n, 10n]);
    expect(vector1.map((i) => i.closingBalance)).toEqual([8357n, 6705n, 5043n, 3371n, 1690n, 0n]);
    expect(vector1.map((i) => i.dueDate)).toEqual([
      '2024-02-01',
      '2024-03-01',
      '2024-04-01',
      '2024-05-01',
      '2024-06-01',
      '2024-07-01',
    ]);
  });

  it('vector 2: paid off on 2024-02-15 after instalment 1 → 83.81 (interest 0.24 for 14 of 29 days)', () => {
    const state = [paid(vector1[0]!), ...vector1.slice(1).map(unpaid)];
    const quote = payoffQuote(state, parseRatePercent('7'), '2024-02-15');
    expect(quote).toMatchObject({ principal: 8357n, interest: 24n, total: 8381n });
    // Through prepayment: the same amount closes the loan; one fen more is refused.
    expect(prepay(state, vectorTerms, '2024-02-15', 8381n, 'shorten_term')).toMatchObject({
      accruedInterest: 24n,
      principal: 8357n,
      schedule: [],
    });
    expect(() => prepay(state, vectorTerms, '2024-02-15', 8382n, 'shorten_term')).toThrowError(
      expect.objectContaining({ code: 'LOAN_PREPAYMENT_INVALID' }),
    );
  });

  it('vector 3: 100.00 at 15.678%, actual/365, 6 monthly', () => {
    const schedule = buildSchedule({
      principal: 10_000n,
      annualRate: parseRatePercent('15.678'),
      type: 'equal_instalments',
      dayCount: 'actual/365',
      start: '2024-01-01',
      terms: 6,
    });
    expect(schedule.map((i) => i.interest)).toEqual([133n, 105n, 90n, 66n, 46n, 22n]);
    expect(schedule.slice(0, 5).map((i) => i.total)).toEqual([1743n, 1743n, 1743n, 1743n, 1743n]);
    expect(schedule[5]!.total).toBe(1747n);
  });

  it('vector 4: month-end due dates clamp and count from the start', () => {
    expect([1, 2, 3].map((k) => addMonthsClamped('2025-01-31', k))).toEqual([
      '2025-02-28',
      '2025-03-31',
      '2025-04-30',
    ]);
    expect(addMonthsClamped('2024-01-31', 1)).toBe('2024-02-29');
    expect(addMonthsClamped('2024-11-30', 3)).toBe('2025-02-28');
  });

  it('vector 5: pay-in-4 with 25% down, and a 400.00 prepayment on Feb 15', () => {
    const plan = payInInstalments(100_000n, '2024-01-01', { count: 4, downPaymentBps: 2500 });
    expect(plan.map((p) => p.amount)).toEqual([25_000n, 25_000n, 25_000n, 25_000n]);
    expect(plan.map((p) => p.dueDate)).toEqual(['2024-01-01', '2024-02-01', '2024-03-01', '2024-04-01']);
    // The down payment and instalment 2 are paid; the 400.00 goes to the oldest open instalments.
    const owed: Owed[] = plan.slice(2).map((p) => ({
      number: p.number,
      dueDate: p.dueDate,
      penalty: 0n,
      fee: 0n,
      interest: 0n,
      principal: p.amount,
    }));
    const { allocations, unapplied } = allocateRepayment(owed, 40_000n, '2024-02-15');
    expect(allocations).toEqual([
      { number: 3, component: 'principal', amount: 25_000n },
      { number: 4, component: 'principal', amount: 15_000n },
    ]);
    expect(unapplied).toBe(0n);
  });

  it('vector 7: 20,000 over 360 months at 5% (30/360)', () => {
    // The vector's total interest is the one with interest rounded half-up (half-even gives 18,653.26:
    // a few periods' interest falls exactly on half a fen); the product names the mode.
    const terms = { principal: 2_000_000n, annualRate: parseRatePercent('5'), dayCount: '30/360' as const };
    const equal = buildSchedule({
      ...terms,
      type: 'equal_instalments',
      start: '2024-01-01',
      terms: 360,
      rounding: 'half_up',
    });
    expect(equal[0]!.total).toBe(10_736n);
    expect(equal.reduce((sum, i) => sum + i.interest, 0n)).toBe(1_865_327n);
    const even = buildSchedule({ ...terms, type: 'equal_instalments', start: '2024-01-01', terms: 360 });
    expect(even.reduce((sum, i) => sum + i.interest, 0n)).toBe(1_865_326n);

    const principal = buildSchedule({ ...terms, type: 'equal_principal', start: '2024-01-01', terms: 360 });
    expect(principal[0]!.total).toBe(13_889n);
    expect(principal.reduce((sum, i) => sum + i.interest, 0n)).toBe(1_504_044n);
    // Principal 55.56 a month; the last instalment takes the remainder (53.96 + 0.22).
    expect(principal[359]!.total).toBe(5_418n);
  });

  it('vector 7: pmt(0.08/12, 60, 15000) = 304.145914 → 304.15', () => {
    const schedule = buildSchedule({
      principal: 1_500_000n,
      annualRate: parseRatePercent('8'),
      type: 'equal_instalments',
      dayCount: '30/360',
      start: '2024-01-01',
      terms: 60,
    });
    expect(schedule[0]!.total).toBe(30_415n);
  });

  it('vector 10: due 2023-10-01, checked 2023-12-01 → 61 days past due, bucket 61–90', () => {
    const dpd = daysPastDue('2023-10-01', '2023-12-01');
    expect(dpd).toBe(61);
    expect(delinquencyBucket(dpd)).toBe('61-90');
    expect([0, 1, 3, 4, 30, 31, 60, 90, 91, 240, 241, 999].map(delinquencyBucket)).toEqual([
      'current',
      '1-3',
      '1-3',
      '4-30',
      '4-30',
      '31-60',
      '31-60',
      '61-90',
      '91-120',
      '211-240',
      '241+',
      '241+',
    ]);
  });

  it('interest-first then bullet', () => {
    const schedule = buildSchedule({
      principal: 1_200_000n,
      annualRate: parseRatePercent('12'),
      type: 'interest_first',
      dayCount: '30/360',
      start: '2024-03-15',
      terms: 3,
    });
    expect(schedule.map((i) => [i.principal, i.interest])).toEqual([
      [0n, 12_000n],
      [0n, 12_000n],
      [1_200_000n, 12_000n],
    ]);
  });

  it('counts actual/actual by calendar year', () => {
    // 2023-12-01 → 2024-01-01: 31/365; 2024-12-01 → 2025-01-01: 31/366.
    const a = yearFraction('actual/actual', '2023-12-01', '2024-01-01');
    expect(Number(a.n) / Number(a.d)).toBeCloseTo(31 / 365, 12);
    const b = yearFraction('actual/actual', '2023-12-17', '2024-01-16');
    expect(Number(b.n) / Number(b.d)).toBeCloseTo(15 / 365 + 15 / 366, 12);
  });

  it('a prepayment after the current instalment was paid early re-amortises from the next one and keeps it paid', () => {
    // Instalment 2 (due 2024-03-01) paid in full on 2024-02-10, scheduled interest and all.
    const state = [paid(vector1[0]!), paid(vector1[1]!), ...vector1.slice(2).map(unpaid)];
    for (const mode of ['shorten_term', 'lower_instalment'] as const) {
      const result = prepay(state, vectorTerms, '2024-02-15', 3_000n, mode);
      // Its interest covered the whole period, so none is owed to date; all 30.00 repays principal.
      expect(result).toMatchObject({ accruedInterest: 0n, principal: 3_000n, from: 3 });
      expect(result.schedule[0]).toMatchObject({ number: 3, periodStart: '2024-03-01', principalPaid: 0n });
      expect(result.schedule.reduce((sum, i) => sum + i.principal, 0n)).toBe(
        vector1[1]!.closingBalance - 3_000n,
      );
    }
    // Paying off: the principal left, no interest.
    expect(
      prepay(state, vectorTerms, '2024-02-15', vector1[1]!.closingBalance, 'shorten_term'),
    ).toMatchObject({ accruedInterest: 0n, schedule: [], from: 3 });
  });

  it('a partial prepayment shortens the term or lowers the instalment', () => {
    const state = [paid(vector1[0]!), ...vector1.slice(1).map(unpaid)];
    const shorter = prepay(state, vectorTerms, '2024-02-01', 5_000n, 'shorten_term');
    expect(shorter.principal).toBe(5_000n);
    expect(shorter.schedule.length).toBeLessThan(5);
    expect(shorter.schedule.slice(0, -1).every((i) => i.total === 1701n)).toBe(true);
    const lower = prepay(state, vectorTerms, '2024-02-01', 5_000n, 'lower_instalment');
    expect(lower.schedule).toHaveLength(5);
    expect(lower.schedule[0]!.total).toBeLessThan(1701n);
    for (const result of [shorter, lower]) {
      expect(result.schedule.reduce((s, i) => s + i.principal, 0n)).toBe(8357n - 5_000n);
    }
  });
});

const vectorTerms = {
  annualRate: parseRatePercent('7'),
  type: 'equal_instalments' as const,
  dayCount: '30/360' as const,
};

describe('schedule properties', () => {
  const dayCountArb = fc.constantFrom<DayCount>('30/360', 'actual/365', 'actual/actual');
  const typeArb = fc.constantFrom(
    'equal_instalments' as const,
    'equal_principal' as const,
    'interest_first' as const,
  );
  const startArb = fc
    .integer({ min: 0, max: 3650 })
    .map((d) => new Date(Date.UTC(2020, 0, 1) + d * 86_400_000).toISOString().slice(0, 10));

  it('principal sums to the loan, balances never go negative, and the due dates are monthly', () => {
    fc.assert(
      fc.property(
        fc.bigInt(100n, 20_000_000n),
        fc.integer({ min: 1, max: 2400 }),
        fc.integer({ min: 1, max: 60 }),
        typeArb,
        dayCountArb,
        startArb,
        (base, rateBp, terms, type, dayCount, start) => {
          // At least 1.00 a month (a product's minimum amount is far above it).
          const principal = base + BigInt(terms) * 100n;
          const schedule = buildSchedule({
            principal,
            annualRate: { n: BigInt(rateBp), d: 10_000n },
            type,
            dayCount,
            start,
            terms,
          });
          expect(schedule).toHaveLength(terms);
          expect(schedule.reduce((s, i) => s + i.principal, 0n)).toBe(principal);
          for (const [k, i] of schedule.entries()) {
            expect(i.principal).toBeGreaterThanOrEqual(0n);
            expect(i.interest).toBeGreaterThanOrEqual(0n);
            expect(i.closingBalance).toBeGreaterThanOrEqual(0n);
            expect(i.dueDate).toBe(addMonthsClamped(start, k + 1));
          }
          expect(schedule.at(-1)!.closingBalance).toBe(0n);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a prepayment keeps principal summing to what is left, without negatives', () => {
    fc.assert(
      fc.property(
        fc.bigInt(10_000n, 20_000_000n),
        fc.integer({ min: 1, max: 2400 }),
        fc.integer({ min: 2, max: 36 }),
        typeArb,
        dayCountArb,
        fc.constantFrom('shorten_term' as const, 'lower_instalment' as const),
        fc.integer({ min: 1, max: 27 }),
        fc.integer({ min: 1, max: 99 }),
        (principal, rateBp, terms, type, dayCount, mode, dayInPeriod, pct) => {
          const annualRate = { n: BigInt(rateBp), d: 10_000n };
          const schedule = buildSchedule({
            principal,
            annualRate,
            type,
            dayCount,
            start: '2024-01-31',
            terms,
          });
          const state = [paid(schedule[0]!), ...schedule.slice(1).map(unpaid)];
          const asOf = new Date(Date.parse(`${schedule[0]!.dueDate}T00:00:00Z`) + dayInPeriod * 86_400_000)
            .toISOString()
            .slice(0, 10);
          const outstanding = schedule[0]!.closingBalance;
          const amount = (outstanding * BigInt(pct)) / 100n + 1n;
          const result = prepay(state, { annualRate, type, dayCount }, asOf, amount, mode);
          expect(result.accruedInterest + result.principal).toBe(amount);
          expect(result.schedule.reduce((s, i) => s + i.principal, 0n)).toBe(outstanding - result.principal);
          for (const i of result.schedule) {
            expect(i.principal).toBeGreaterThanOrEqual(0n);
            expect(i.closingBalance).toBeGreaterThanOrEqual(0n);
          }
          if (mode === 'lower_instalment') expect(result.schedule).toHaveLength(terms - 1);
          else expect(result.schedule.length).toBeLessThanOrEqual(terms - 1);
        },
      ),
      {
        numRuns: 200,
        // Found by a random run: a rounded-up instalment repaid a tiny balance one period early.
        examples: [
          [10_000n, 1, 26, 'equal_instalments', '30/360', 'lower_instalment', 1, 97],
          // Interest-first at 0.01%: every period but the last owes nothing, and is still current.
          [10_000n, 1, 3, 'interest_first', '30/360', 'lower_instalment', 1, 1],
        ],
      },
    );
  });

  it('allocation honours the order: nothing later is paid while something earlier stays owed', () => {
    const componentOrder = fc.shuffledSubarray([...components], {
      minLength: 4,
      maxLength: 4,
    }) as fc.Arbitrary<Component[]>;
    const owedArb = fc.array(
      fc.record({
        dueDate: startArb,
        penalty: fc.bigInt(0n, 5_000n),
        fee: fc.bigInt(0n, 5_000n),
        interest: fc.bigInt(0n, 5_000n),
        principal: fc.bigInt(0n, 50_000n),
      }),
      { minLength: 1, maxLength: 8 },
    );
    fc.assert(
      fc.property(
        owedArb,
        componentOrder,
        fc.boolean(),
        fc.bigInt(0n, 200_000n),
        startArb,
        (rows, order, pastDueFirst, amount, asOf) => {
          const owed = rows.map((r, k) => ({ ...r, number: k + 1 }));
          const { allocations, unapplied } = allocateRepayment(owed, amount, asOf, { order, pastDueFirst });
          const total = owed.reduce((s, o) => s + o.penalty + o.fee + o.interest + o.principal, 0n);
          const applied = allocations.reduce((s, a) => s + a.amount, 0n);
          expect(applied + unapplied).toBe(amount);
          expect(unapplied).toBe(amount > total ? amount - total : 0n);
          // Rank of each (instalment, component) in the queue the policy defines.
          const sorted = [...owed].sort((a, b) =>
            a.dueDate < b.dueDate ? -1 : a.dueDate > b.dueDate ? 1 : a.number - b.number,
          );
          const queue = pastDueFirst
            ? [...sorted.filter((o) => o.dueDate < asOf), ...sorted.filter((o) => o.dueDate >= asOf)]
            : sorted;
          const paidOf = new Map<string, bigint>();
          for (const a of allocations) paidOf.set(`${a.number}:${a.component}`, a.amount);
          let sawShort = false;
          for (const o of queue) {
            for (const c of order) {
              const got = paidOf.get(`${o.number}:${c}`) ?? 0n;
              expect(got).toBeLessThanOrEqual(o[c]);
              if (sawShort) expect(got).toBe(0n);
              if (got < o[c]) sawShort = true;
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
