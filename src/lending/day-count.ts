import { daysBetween, isLeapYear, parseDate } from './calendar.ts';
import type { Fraction } from './rates.ts';

/**
 * Day-count conventions for interest (ISDA 2006 §4.16 names):
 * - `30/360`: every whole month of a schedule is 30/360 = 1/12 of a year; other spans count
 *   30/360 (US) days.
 * - `actual/365` (Fixed): actual days / 365.
 * - `actual/actual` (ISDA): the days falling in each calendar year over that year's length (365 or 366).
 */
export type DayCount = '30/360' | 'actual/365' | 'actual/actual';

export const dayCounts: readonly DayCount[] = ['30/360', 'actual/365', 'actual/actual'];

/** The year fraction from `start` to `end`; `wholeMonths` (for a schedule period) makes 30/360 exact. */
export function yearFraction(dayCount: DayCount, start: string, end: string, wholeMonths?: number): Fraction {
  switch (dayCount) {
    case '30/360': {
      if (wholeMonths !== undefined) return { n: BigInt(wholeMonths), d: 12n };
      return { n: BigInt(days360(start, end)), d: 360n };
    }
    case 'actual/365':
      return { n: BigInt(daysBetween(start, end)), d: 365n };
    case 'actual/actual': {
      const s = parseDate(start);
      const e = parseDate(end);
      if (s.year === e.year)
        return { n: BigInt(daysBetween(start, end)), d: isLeapYear(s.year) ? 366n : 365n };
      // Σ days in year y / length of y, over a common denominator of 365 × 366.
      let n = 0n;
      for (let y = s.year; y <= e.year; y++) {
        const from = y === s.year ? start : `${y}-01-01`;
        const to = y === e.year ? end : `${y + 1}-01-01`;
        const days = BigInt(daysBetween(from, to));
        n += isLeapYear(y) ? days * 365n : days * 366n;
      }
      return { n, d: 365n * 366n };
    }
  }
}

/** 30/360 US (Bond Basis): day 31 counts as 30, and the end's 31 as 30 when the start is the 30th or 31st. */
export function days360(start: string, end: string): number {
  const s = parseDate(start);
  const e = parseDate(end);
  const d1 = Math.min(s.day, 30);
  const d2 = d1 === 30 ? Math.min(e.day, 30) : e.day;
  return (e.year - s.year) * 360 + (e.month - s.month) * 30 + (d2 - d1);
}
