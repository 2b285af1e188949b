import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MilletError } from '../core/errors.ts';
import { aprOfDatedFlows, aprOfPeriodicFlows, assertAprWithinCap, type Apr } from './apr.ts';

/**
 * An independent IRR: bisection on the NPV in floats over a wide bracket of the periodic rate
 * (the module's solver is Newton plus an exact bigint refinement).
 */
function bisectionIrr(flows: ReadonlyArray<{ t: number; amount: number }>): number {
  const npv = (r: number) => flows.reduce((sum, { t, amount }) => sum + amount / Math.pow(1 + r, t), 0);
  let lo = -0.95;
  let hi = 5;
  const sLo = Math.sign(npv(lo));
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (Math.sign(npv(mid)) === sLo) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

const percentOf = (apr: Apr) => Number(apr.percentE4) / 1e4;

describe('APR (IRR of the cash flows, PBoC 2021 No. 3)', () => {
  it('is the periodic IRR times the periods per year, exactly on known rates', () => {
    // 1% a month for one month and for two (interest-only then bullet): 12% nominal.
    expect(aprOfPeriodicFlows([-10_000n, 10_100n], 12).percent).toBe('12.0000');
    expect(aprOfPeriodicFlows([-10_000n, 100n, 10_100n], 12).percent).toBe('12.0000');
    // The borrower's view (+principal, −instalments) gives the same APR.
    expect(aprOfPeriodicFlows([10_000n, -100n, -10_100n], 12).percent).toBe('12.0000');
    // Interest-free: 0.
    expect(aprOfPeriodicFlows([-30_000n, 10_000n, 10_000n, 10_000n], 12).percent).toBe('0.0000');
  });

  it('rounds half-even at 0.0001 percentage points', () => {
    // r = 0.5e-6 and 1.5e-6 a year: exactly half a unit of the last digit.
    expect(aprOfPeriodicFlows([-2_000_000n, 2_000_001n], 1).percent).toBe('0.0000');
    expect(aprOfPeriodicFlows([-2_000_000n, 2_000_003n], 1).percent).toBe('0.0002');
    expect(aprOfPeriodicFlows([-2_000_000n, 2_000_005n], 1).percent).toBe('0.0002');
    expect(aprOfPeriodicFlows([-2_000_000n, 2_000_007n], 1).percent).toBe('0.0004');
  });

  it('shows vector 1 (7%, 6 monthly instalments of 17.01 then 17.00) at about 7%', () => {
    const apr = aprOfPeriodicFlows([-10_000n, 1701n, 1701n, 1701n, 1701n, 1701n, 1700n], 12);
    expect(Math.abs(percentOf(apr) - 7)).toBeLessThan(0.05);
  });

  it('gives 8% for pmt(0.08/12, 60, 15000) rounded to the fen', () => {
    const flows = [-1_500_000n, ...Array.from({ length: 60 }, () => 30_415n)];
    expect(Math.abs(percentOf(aprOfPeriodicFlows(flows, 12)) - 8)).toBeLessThan(0.001);
  });

  it('counts actual days over 365 for dated flows', () => {
    // 365 days at 0.01%/day simple → 1 + 0.0001×… : one flow after 100 days with 1% of interest:
    // the daily IRR is (1.01)^(1/100) − 1, times 365.
    const apr = aprOfDatedFlows([
      { date: '2024-01-01', amount: -1_000_000n },
      { date: '2024-04-10', amount: 1_010_000n },
    ]);
    const expected = (Math.pow(1.01, 1 / 100) - 1) * 365 * 100;
    expect(Math.abs(percentOf(apr) - expected)).toBeLessThan(0.0001);
    // Order does not matter.
    expect(
      aprOfDatedFlows([
        { date: '2024-04-10', amount: 1_010_000n },
        { date: '2024-01-01', amount: -1_000_000n },
      ]),
    ).toEqual(apr);
  });

  it('stays within 0.01 percentage points of an independent bisection solver (periodic flows)', () => {
    fc.assert(
      fc.property(
        fc.bigInt(100_000n, 20_000_000n),
        fc.integer({ min: 1, max: 60 }),
        fc.constantFrom(1, 4, 12, 52),
        fc.integer({ min: 70, max: 160 }),
        fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 60, maxLength: 60 }),
        (principal, n, ppy, totalPct, jitter) => {
          const base = (principal * BigInt(totalPct)) / 100n / BigInt(n);
          const amounts = [
            -principal,
            ...Array.from({ length: n }, (_, k) => base + BigInt(jitter[k]!) * 10n),
          ];
          const apr = aprOfPeriodicFlows(amounts, ppy);
          const reference = bisectionIrr(amounts.map((a, t) => ({ t, amount: Number(a) }))) * ppy * 100;
          expect(Math.abs(percentOf(apr) - reference)).toBeLessThanOrEqual(0.01);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('stays within 0.01 percentage points of an independent bisection solver (dated flows)', () => {
    fc.assert(
      fc.property(
        fc.bigInt(100_000n, 20_000_000n),
        fc.array(fc.integer({ min: 1, max: 62 }), { minLength: 1, maxLength: 24 }),
        fc.integer({ min: 90, max: 140 }),
        (principal, gaps, totalPct) => {
          const start = Date.UTC(2024, 0, 31);
          let day = 0;
          const per = (principal * BigInt(totalPct)) / 100n / BigInt(gaps.length);
          const flows = [{ t: 0, amount: -principal }];
          for (const gap of gaps) {
            day += gap;
            flows.push({ t: day, amount: per });
          }
          const apr = aprOfDatedFlows(
            flows.map(({ t, amount }) => ({
              date: new Date(start + t * 86_400_000).toISOString().slice(0, 10),
              amount,
            })),
          );
          const reference =
            bisectionIrr(flows.map(({ t, amount }) => ({ t, amount: Number(amount) }))) * 365 * 100;
          expect(Math.abs(percentOf(apr) - reference)).toBeLessThanOrEqual(0.01);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses flows without an IRR', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return (error as MilletError).code;
      }
      return 'no error';
    };
    expect(code(() => aprOfPeriodicFlows([], 12))).toBe('LENDING_CASH_FLOWS_INVALID');
    expect(code(() => aprOfPeriodicFlows([-100n, -5n], 12))).toBe('LENDING_CASH_FLOWS_INVALID');
    expect(code(() => aprOfPeriodicFlows([0n, 0n], 12))).toBe('LENDING_CASH_FLOWS_INVALID');
    expect(code(() => aprOfPeriodicFlows([-100n, 101n], 0))).toBe('LENDING_CASH_FLOWS_INVALID');
    expect(code(() => aprOfDatedFlows([{ date: '2024-02-30', amount: 1n }]))).toBe(
      'LENDING_CASH_FLOWS_INVALID',
    );
  });

  it('caps the APR at 24%', () => {
    // 2% a month: exactly 24% — allowed; 2.01% a month — refused with the APR in the details.
    expect(() => assertAprWithinCap(aprOfPeriodicFlows([-10_000n, 10_200n], 12))).not.toThrow();
    const above = aprOfPeriodicFlows([-10_000n, 10_201n], 12);
    expect(above.percent).toBe('24.1200');
    expect(() => assertAprWithinCap(above)).toThrowError(
      expect.objectContaining({
        code: 'APR_ABOVE_CAP',
        details: { apr_percent: '24.1200', cap_percent: '24.0000' },
      }),
    );
  });
});
