import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { divRound, formatMinorUnits, parseMajorUnits, type RoundingMode } from './money.ts';

describe('divRound', () => {
  const cases: Array<[bigint, bigint, RoundingMode, bigint]> = [
    [5n, 2n, 'half_even', 2n],
    [7n, 2n, 'half_even', 4n],
    [-5n, 2n, 'half_even', -2n],
    [5n, 2n, 'half_up', 3n],
    [-5n, 2n, 'half_up', -3n],
    [5n, 2n, 'half_down', 2n],
    [7n, 3n, 'down', 2n],
    [-7n, 3n, 'down', -2n],
    [7n, 3n, 'up', 3n],
    [-7n, 3n, 'floor', -3n],
    [-7n, 3n, 'ceiling', -2n],
    [7n, -3n, 'floor', -3n],
    [6n, 3n, 'up', 2n],
  ];
  it.each(cases)('%s / %s (%s) = %s', (n, d, mode, expected) => {
    expect(divRound(n, d, mode)).toBe(expected);
  });

  it('stays within one unit of the exact quotient in every mode', () => {
    const modes: RoundingMode[] = ['half_even', 'half_up', 'half_down', 'down', 'up', 'floor', 'ceiling'];
    fc.assert(
      fc.property(
        fc.bigInt(-(10n ** 12n), 10n ** 12n),
        fc.bigInt(1n, 10n ** 6n),
        fc.constantFrom(...modes),
        (n, d, mode) => {
          const q = divRound(n, d, mode);
          const diff = q * d - n;
          expect(diff < 0n ? -diff : diff).toBeLessThan(d);
        },
      ),
    );
  });

  it('refuses to divide by zero', () => {
    expect(() => divRound(1n, 0n, 'half_even')).toThrow(RangeError);
  });
});

describe('major/minor units', () => {
  it('parses and formats CNY to the fen', () => {
    expect(parseMajorUnits('1234.5', 'CNY')).toBe(123450n);
    expect(parseMajorUnits('-0.01', 'CNY')).toBe(-1n);
    expect(formatMinorUnits(123450n, 'CNY')).toBe('1234.50');
    expect(formatMinorUnits(-5n, 'CNY')).toBe('-0.05');
    expect(formatMinorUnits(7n, 'JPY')).toBe('7');
  });
  it('refuses more decimals than the currency has', () => {
    expect(() => parseMajorUnits('1.001', 'CNY')).toThrow(/2 decimals/);
    expect(() => parseMajorUnits('1,000', 'CNY')).toThrow(/not a decimal/);
  });
});
