import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { businessDateOf, businessTimeOffsetMs } from '../core/index.ts';
import { addDays, endOfBusinessDate, isBusinessDate } from './business-dates.ts';

const DAY = 86_400_000;
const FIRST = Date.UTC(2000, 0, 1) - 730_119 * DAY; // 0001-01-01
const LAST = Date.UTC(9999, 11, 31);

/** Any business date from 0001-01-01 to 9999-12-31, with month ends, year ends and zone changes favoured. */
const anyDate = fc.oneof(
  fc
    .integer({ min: 0, max: (LAST - FIRST) / DAY })
    .map((n) => new Date(FIRST + n * DAY).toISOString().slice(0, 10)),
  fc
    .record({
      year: fc.oneof(
        fc.integer({ min: 1, max: 9999 }),
        fc.constantFrom(1, 99, 100, 999, 1000, 1582, 1900, 1901, 1919, 1940, 1945, 1986, 1991, 2000, 9999),
      ),
      month: fc.integer({ min: 1, max: 12 }),
      end: fc.boolean(),
    })
    .map(({ year, month, end }) => {
      const d = new Date(0);
      d.setUTCFullYear(year, end ? month : month - 1, end ? 0 : 1);
      return d.toISOString().slice(0, 10);
    }),
);

describe('business dates in every year they accept', () => {
  it('round-trips date → last instant → date, and the next instant is the next day', () => {
    fc.assert(
      fc.property(anyDate, (date) => {
        expect(isBusinessDate(date)).toBe(true);
        const end = endOfBusinessDate(date);
        expect(businessDateOf(end)).toBe(date);
        if (date !== '9999-12-31') expect(businessDateOf(new Date(end.getTime() + 1))).toBe(addDays(date, 1));
      }),
      { numRuns: 2000 },
    );
  });

  it('writes every date as YYYY-MM-DD, years before 1000 padded, and dates an instant like its offset says', () => {
    fc.assert(
      fc.property(fc.integer({ min: FIRST, max: LAST + DAY - 8 * 3_600_000 - 1 }), (ms) => {
        const instant = new Date(ms);
        const date = businessDateOf(instant);
        expect(date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
        expect(isBusinessDate(date)).toBe(true);
        const local = new Date(ms + businessTimeOffsetMs(instant)).toISOString().slice(0, 10);
        expect(date).toBe(local);
      }),
      { numRuns: 2000 },
    );
  });

  it('addDays and back again, within the range', () => {
    fc.assert(
      fc.property(anyDate, fc.integer({ min: -400, max: 400 }), (date, days) => {
        let later: string;
        try {
          later = addDays(date, days);
        } catch (e) {
          expect(e).toBeInstanceOf(RangeError);
          return;
        }
        expect(isBusinessDate(later)).toBe(true);
        expect(addDays(later, -days)).toBe(date);
      }),
    );
  });

  it('early years, local mean time and daylight saving', () => {
    expect(businessDateOf(new Date('0999-06-01T00:00:00Z'))).toBe('0999-06-01');
    expect(businessDateOf(new Date('0050-03-01T00:00:00Z'))).toBe('0050-03-01');
    expect(businessDateOf(new Date('0000-12-31T16:00:00Z'))).toBe('0001-01-01');
    // Before 1901: +08:05:43, so the day ends 5 min 43 s before 16:00 UTC.
    expect(endOfBusinessDate('1900-06-01').toISOString()).toBe('1900-06-01T15:54:16.999Z');
    expect(endOfBusinessDate('0001-01-01').toISOString()).toBe('0001-01-01T15:54:16.999Z');
    // Summer time 1986–91 (+9): the day ended at 15:00 UTC.
    expect(endOfBusinessDate('1986-07-01').toISOString()).toBe('1986-07-01T14:59:59.999Z');
    expect(endOfBusinessDate('2025-12-31').toISOString()).toBe('2025-12-31T15:59:59.999Z');
    expect(endOfBusinessDate('9999-12-31').toISOString()).toBe('9999-12-31T15:59:59.999Z');
  });

  it('refuses what is not a business date with a RangeError, never a date of another shape', () => {
    // Year 0 (1 BC) and year 10000 are not business dates.
    expect(() => businessDateOf(new Date('0000-12-31T15:00:00Z'))).toThrow(RangeError);
    expect(() => businessDateOf(new Date('9999-12-31T16:00:00Z'))).toThrow(RangeError);
    expect(() => addDays('9999-12-31', 1)).toThrow(RangeError);
    expect(() => addDays('0001-01-01', -1)).toThrow(RangeError);
    expect(() => endOfBusinessDate('0000-06-01')).toThrow(RangeError);
    expect(() => endOfBusinessDate('2025-02-30')).toThrow(RangeError);
  });
});
