import { describe, expect, it } from 'vitest';
import { isMilletError } from '../core/index.ts';
import { checkCoDebt, defaultCoDebtLimits, type CoDebtSnapshot } from './co-debt.ts';

const window = (applications: number, amount: bigint, loans = 0) => ({
  applications,
  applicationAmountFen: amount,
  loans,
  loanAmountFen: 0n,
});
const snapshot = (s: Partial<CoDebtSnapshot>): CoDebtSnapshot => ({
  last30: window(0, 0n),
  last90: window(0, 0n),
  outstandingLoans: 0,
  ...s,
});
const reason = (s: CoDebtSnapshot, amount: bigint) => {
  try {
    checkCoDebt(s, amount, defaultCoDebtLimits);
    return null;
  } catch (error) {
    if (!isMilletError(error) || error.code !== 'MARKETPLACE_CO_DEBT_LIMIT') throw error;
    return error.details!.limit;
  }
};

describe('co-debt guard', () => {
  it('lets an application through below every limit', () => {
    expect(reason(snapshot({ last30: window(4, 0n), last90: window(9, 0n, 2) }), 1_000n)).toBeNull();
  });
  it('names the limit that stops routing', () => {
    expect(reason(snapshot({ last30: window(5, 0n), last90: window(5, 0n) }), 1n)).toBe('applications_30d');
    expect(reason(snapshot({ last90: window(10, 0n) }), 1n)).toBe('applications_90d');
    expect(reason(snapshot({ last90: window(1, 0n, 3) }), 1n)).toBe('loans_90d');
    // The new application counts toward the amount: 499,999.99 + 0.02 passes 500,000.00.
    expect(reason(snapshot({ last90: window(1, 49_999_999n) }), 1n)).toBeNull();
    expect(reason(snapshot({ last90: window(1, 49_999_999n) }), 2n)).toBe('application_amount_90d');
  });
});
