import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseNumber } from './datasets.ts';

/** What parseNumber gave before its digit-by-digit fast path: the reference it must still match. */
const reference = (value: unknown): number => {
  if (typeof value === 'number') return value;
  if (value === null || value === undefined) return NaN;
  const s = String(value).trim();
  return s === '' ? NaN : Number(s);
};

describe('parseNumber', () => {
  it('reads the data sets’ plain integers as Number does, signed zero included', () => {
    for (const s of ['0', '-0', '007', '-12', '123456789012345', '-999999999999999'])
      expect(Object.is(parseNumber(s), reference(s))).toBe(true);
    expect(Object.is(parseNumber('-0'), -0)).toBe(true);
  });

  it('matches Number(String(v).trim()) on any string or number, bit for bit', () => {
    const digits = fc.stringMatching(/^-?[0-9]{0,18}$/);
    const numberish = fc.stringMatching(/^[ \t]?[-+]?[0-9]{0,6}(\.[0-9]{0,3})?(e-?[0-9])?[ \t]?$/);
    const text = fc.oneof(
      digits,
      numberish,
      fc.string(),
      fc.constantFrom('-', '+1', '0x1f', 'Infinity', ' 1 '),
    );
    fc.assert(
      fc.property(fc.oneof(text, fc.double(), fc.constantFrom(null, undefined)), (v) => {
        expect(Object.is(parseNumber(v), reference(v))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});
