import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { businessDateOf } from '../core/index.ts';
import { MAX_AMOUNT } from '../ledger/index.ts';
import { amountInput, timestampInput } from './schemas.ts';

describe('amountInput', () => {
  it('takes integer minor units up to the ledger limit as bigint', () => {
    expect(amountInput.parse('0')).toBe(0n);
    expect(amountInput.parse('12345')).toBe(12_345n);
    expect(amountInput.parse(String(MAX_AMOUNT))).toBe(MAX_AMOUNT);
  });

  it('refuses figures past the limit, even those an int8 column would hold, and malformed ones', () => {
    for (const text of [String(MAX_AMOUNT + 1n), '9223372036854775807', '9999999999999999999']) {
      const result = amountInput.safeParse(text);
      expect(result.success, text).toBe(false);
      expect(result.error?.issues.map((i) => i.message)).toEqual([`must be at most ${MAX_AMOUNT}`]);
    }
    for (const text of ['', '-1', '1.5', '1e3', '007', ' 1', '99999999999999999999']) {
      const result = amountInput.safeParse(text);
      expect(result.success, text).toBe(false);
      expect(result.error?.issues.map((i) => i.message)).toEqual([
        'must be a string of integer minor units, such as "12345"',
      ]);
    }
  });
});

describe('timestampInput', () => {
  it('takes instants whose business date exists, up to the last instant of 9999-12-31 in Beijing', () => {
    expect(timestampInput.parse('9999-12-31T23:59:59.999+08:00').toISOString()).toBe(
      '9999-12-31T15:59:59.999Z',
    );
    expect(timestampInput.parse('0001-01-01T00:00:00Z').toISOString()).toBe('0001-01-01T00:00:00.000Z');
  });

  it('refuses an instant that a zone west of UTC carries past 9999-12-31 in Beijing', () => {
    for (const text of ['9999-12-31T23:00:00-05:00', '9999-12-31T16:00:00Z', '9999-12-31T23:59:59.999Z']) {
      const result = timestampInput.safeParse(text);
      expect(result.success, text).toBe(false);
      expect(result.error?.issues.map((i) => i.message)).toEqual([
        'must be before 10000-01-01 in Beijing time',
      ]);
    }
  });

  it('gives every instant it takes a business date', () => {
    const lastMs = Date.UTC(9999, 11, 31, 15, 59, 59, 999);
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('0001-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59.999Z'),
          noInvalidDate: true,
        }),
        fc.integer({ min: -12 * 60, max: 14 * 60 }),
        (instant, offsetMinutes) => {
          const local = new Date(instant.getTime() + offsetMinutes * 60_000);
          const year = local.getUTCFullYear();
          if (year < 1 || year > 9999) return;
          const sign = offsetMinutes < 0 ? '-' : '+';
          const abs = Math.abs(offsetMinutes);
          const text = `${local.toISOString().slice(0, 23)}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
          const result = timestampInput.safeParse(text);
          if (!result.success) {
            expect(instant.getTime() < Date.UTC(1, 0, 1) || instant.getTime() > lastMs, text).toBe(true);
            return;
          }
          expect(businessDateOf(result.data)).toMatch(/^\d{4}-\d{2}-\d{2}$/);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
