import { describe, expect, it } from 'vitest';
import { MAX_AMOUNT } from '../ledger/index.ts';
import { amountInput } from './schemas.ts';

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
