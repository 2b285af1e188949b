import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dateOfDayNumber, dayNumber, daysBetween } from './calendar.ts';

describe('calendar day numbers in every year', () => {
  it('counts the years 0001–0099 as themselves, not as 1901–1999', () => {
    expect(daysBetween('0099-12-31', '0100-01-01')).toBe(1);
    expect(dateOfDayNumber(dayNumber('0050-01-01'))).toBe('0050-01-01');
  });

  it('round-trips date → day number → date from 0001 to 9999', () => {
    // 0001-01-01 and 9999-12-31, counted from 1970-01-01.
    const first = -719_162;
    expect(dateOfDayNumber(first)).toBe('0001-01-01');
    fc.assert(
      fc.property(fc.integer({ min: first, max: 2_932_896 }), (n) => {
        const date = dateOfDayNumber(n);
        expect(dayNumber(date)).toBe(n);
        expect(daysBetween('0001-01-01', date)).toBe(n - first);
      }),
      { numRuns: 2000 },
    );
  });
});
