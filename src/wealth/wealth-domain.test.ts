import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INCOME_DIVISOR, allocateIncome } from './income-allocation.ts';
import { formatRate, parseRate } from './rates.ts';
import { formatYieldMilli, integerRoot, sevenDayYieldMilli } from './seven-day-yield.ts';
import { TradingCalendar } from './trading-calendar.ts';

describe('income allocation', () => {
  it('reproduces DESIGN vector 9: 4.01, 0.02, 169.08, total 173.11', () => {
    const holders = [
      { id: 'a', shares: 2_345_678n },
      { id: 'b', shares: 10_000n },
      { id: 'c', shares: 98_765_432n },
    ];
    const { total, incomes } = allocateIncome(holders, parseRate('1.7120'));
    expect(incomes).toEqual([401n, 2n, 16_908n]);
    expect(total).toBe(17_311n);
  });

  it('books a negative day as the exact negation of the positive one', () => {
    const holders = [
      { id: 'a', shares: 2_345_678n },
      { id: 'b', shares: 10_000n },
      { id: 'c', shares: 98_765_432n },
    ];
    const { total, incomes } = allocateIncome(holders, parseRate('-1.7120'));
    expect(incomes).toEqual([-401n, -2n, -16_908n]);
    expect(total).toBe(-17_311n);
  });

  it('breaks equal remainders by id', () => {
    // 3 holders of 0.50 share at R = 1.0000: exact 0.00005 fen each → no extra fen; scale up.
    const holders = [
      { id: 'c', shares: 50_000_000n },
      { id: 'a', shares: 50_000_000n },
      { id: 'b', shares: 50_000_000n },
    ];
    // exact each = 5e7 × 3 / 1e8 = 1.5 fen; total 4.5 → 4; one extra fen, to id 'a'.
    const { total, incomes } = allocateIncome(holders, 3n);
    expect(total).toBe(4n);
    expect(incomes).toEqual([1n, 2n, 1n]);
  });

  it('distributes the fund total exactly and keeps every holder within a fen (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uuid(), fc.bigInt({ min: 0n, max: 10_000_000_000n })), {
          minLength: 1,
          maxLength: 60,
        }),
        fc.bigInt({ min: -50_000n, max: 50_000n }),
        (pairs, rate) => {
          const holders = pairs.map(([id, shares], i) => ({ id: `${id}-${i}`, shares }));
          const { total, incomes } = allocateIncome(holders, rate);
          const exactSum = holders.reduce((s, h) => s + h.shares * rate, 0n);
          // The fund's income: the exact total truncated toward zero.
          expect(total).toBe(exactSum / INCOME_DIVISOR);
          expect(incomes.reduce((s, x) => s + x, 0n)).toBe(total);
          holders.forEach((h, i) => {
            const diff = incomes[i]! * INCOME_DIVISOR - h.shares * rate;
            expect(diff < INCOME_DIVISOR && diff > -INCOME_DIVISOR).toBe(true);
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('7-day annualised yield', () => {
  it('gives 6.437% for the DESIGN example', () => {
    const rates = ['1.7120', '1.7085', '1.7090', '1.7093', '1.7093', '1.7093', '1.7077'].map((r) =>
      parseRate(r),
    );
    expect(formatYieldMilli(sevenDayYieldMilli(rates))).toBe('6.437');
  });

  it('is zero for zero income and negative for losses', () => {
    expect(sevenDayYieldMilli(Array<bigint>(7).fill(0n))).toBe(0n);
    expect(sevenDayYieldMilli(Array<bigint>(7).fill(-10_000n))).toBeLessThan(0n);
  });

  it('takes exact integer roots', () => {
    expect(integerRoot(10n ** 21n, 7n)).toBe(1000n);
    expect(integerRoot(10n ** 21n - 1n, 7n)).toBe(999n);
    expect(integerRoot(2n, 2n)).toBe(1n);
  });

  it('parses and formats rates exactly', () => {
    expect(parseRate('1.712')).toBe(17_120n);
    expect(formatRate(-100n)).toBe('-0.0100');
    expect(() => parseRate('1.71201')).toThrow(/4 decimals/);
  });
});

describe('trading calendar and the 15:00 cut-off', () => {
  // 2025-06-05 is a Thursday; 2025-10-01…08 the National Day holiday.
  const calendar = new TradingCalendar([
    '2025-10-01',
    '2025-10-02',
    '2025-10-03',
    '2025-10-06',
    '2025-10-07',
    '2025-10-08',
  ]);
  const at = (local: string) => new Date(`${local}+08:00`);

  it('has no trading day after 9999-12-31: a RangeError, not a malformed date stored as T', () => {
    // 9999-12-31 is a Friday: before 15:00 it is T and has no confirmation day; after, no T at all.
    // A copy of addDays answered "+010000-01", which as text sorts before every real date.
    expect(() => calendar.nextTradingDay('9999-12-31')).toThrow(RangeError);
    expect(() => calendar.datesFor(at('9999-12-31T10:00:00'))).toThrow(RangeError);
    expect(() => calendar.datesFor(at('9999-12-31T15:30:00'))).toThrow(RangeError);
    expect(calendar.datesFor(at('9999-12-30T10:00:00'))).toEqual({
      tradeDate: '9999-12-30',
      confirmDate: '9999-12-31',
    });
  });

  it('reads the 15:00 cut-off in the zone offset of the business date: summer time (+9) in 1988', () => {
    // 1988-07-01 (a Friday) was in Beijing summer time, UTC+9: 06:30Z is 15:30, after the cut-off.
    // A fixed +8 read 14:30 and made Friday T, while the hour it sold at was after 15:00.
    expect(calendar.datesFor(new Date('1988-07-01T06:30:00Z'))).toEqual({
      tradeDate: '1988-07-04',
      confirmDate: '1988-07-05',
    });
    expect(calendar.datesFor(new Date('1988-07-01T05:30:00Z'))).toEqual({
      tradeDate: '1988-07-01',
      confirmDate: '1988-07-04',
    });
    // 15:30Z on Thursday is 00:30 on Friday: the business date is Friday, and so must the hour be
    // (a fixed +8 read 23:30, past the cut-off, and moved a Friday-morning order to Monday).
    expect(calendar.datesFor(new Date('1988-06-30T15:30:00Z'))).toEqual({
      tradeDate: '1988-07-01',
      confirmDate: '1988-07-04',
    });
    // Before 1901 the zone is local mean time, +08:05:43: 06:56Z is 15:01:43 there.
    expect(calendar.datesFor(new Date('1900-06-01T06:56:00Z')).tradeDate).toBe('1900-06-04');
    expect(calendar.datesFor(new Date('1900-06-01T06:50:00Z')).tradeDate).toBe('1900-06-01');
  });

  it('confirms a Thursday order before 15:00 on Friday', () => {
    expect(calendar.datesFor(at('2025-06-05T14:59:59'))).toEqual({
      tradeDate: '2025-06-05',
      confirmDate: '2025-06-06',
    });
  });

  it('rolls a Thursday order after 15:00 to Friday, confirmed Monday', () => {
    expect(calendar.datesFor(at('2025-06-05T15:00:00'))).toEqual({
      tradeDate: '2025-06-06',
      confirmDate: '2025-06-09',
    });
  });

  it('confirms Friday before 15:00 on Monday; Friday after and the weekend on Tuesday', () => {
    expect(calendar.datesFor(at('2025-06-06T10:00:00')).confirmDate).toBe('2025-06-09');
    expect(calendar.datesFor(at('2025-06-06T16:00:00')).confirmDate).toBe('2025-06-10');
    expect(calendar.datesFor(at('2025-06-07T10:00:00'))).toEqual({
      tradeDate: '2025-06-09',
      confirmDate: '2025-06-10',
    });
  });

  it('confirms an order on the eve of a holiday after the holiday', () => {
    expect(calendar.datesFor(at('2025-09-30T09:00:00'))).toEqual({
      tradeDate: '2025-09-30',
      confirmDate: '2025-10-09',
    });
    expect(calendar.datesFor(at('2025-09-30T15:30:00'))).toEqual({
      tradeDate: '2025-10-09',
      confirmDate: '2025-10-10',
    });
    expect(calendar.isTradingDay('2025-10-03')).toBe(false);
  });
});
