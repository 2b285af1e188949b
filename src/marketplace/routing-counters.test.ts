import { describe, expect, it } from 'vitest';
import { holdsSince, monthlyBudgetRefuses } from './routing-counters.ts';

describe('holdsSince', () => {
  it('is the first of the month before, across a year end', () => {
    expect(holdsSince('2025-07-01')).toBe('2025-06-01');
    expect(holdsSince('2025-07-31')).toBe('2025-06-01');
    expect(holdsSince('2026-01-15')).toBe('2025-12-01');
    expect(holdsSince('2026-03-01')).toBe('2026-02-01');
  });
});

describe('monthlyBudgetRefuses', () => {
  it('refuses a budget used up even for a post whose payout is 0 now (revenue share only)', () => {
    expect(monthlyBudgetRefuses(1_000n, 1_000n, 0n)).toBe(true);
    expect(monthlyBudgetRefuses(1_000n, 1_200n, 0n)).toBe(true);
    expect(monthlyBudgetRefuses(1_000n, 999n, 0n)).toBe(false);
  });

  it('refuses a payout past the budget and takes one that fits it exactly', () => {
    expect(monthlyBudgetRefuses(1_000n, 600n, 401n)).toBe(true);
    expect(monthlyBudgetRefuses(1_000n, 600n, 400n)).toBe(false);
    expect(monthlyBudgetRefuses(1_000n, 0n, 1_000n)).toBe(false);
  });

  it('never refuses without a budget', () => {
    expect(monthlyBudgetRefuses(null, 10n ** 12n, 10n ** 12n)).toBe(false);
  });
});
