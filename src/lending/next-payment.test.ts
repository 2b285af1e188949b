import { describe, expect, it } from 'vitest';
import { earlyInstalment, earlyPayable, nextPayment } from './next-payment.ts';
import type { InstalmentState } from './schedule.ts';

/** Three instalments of 100.00 principal and 2.00 interest, due on the 10th from February. */
function schedule(paid: Array<'none' | 'part' | 'all'>): InstalmentState[] {
  return paid.map((p, k) => {
    const principal = 10_000n;
    const interest = 200n;
    return {
      number: k + 1,
      periodStart: `2025-0${k + 1}-10`,
      dueDate: `2025-0${k + 2}-10`,
      fraction: { n: 1n, d: 12n },
      openingBalance: 30_000n - 10_000n * BigInt(k),
      principal,
      interest,
      total: principal + interest,
      closingBalance: 20_000n - 10_000n * BigInt(k),
      fee: 0n,
      penalty: 0n,
      principalPaid: p === 'all' ? principal : p === 'part' ? 4_000n : 0n,
      interestPaid: p === 'none' ? 0n : interest,
      feePaid: 0n,
      penaltyPaid: 0n,
      carriedInterest: 0n,
    };
  });
}

describe('what the borrower sees ahead', () => {
  it('the next payment is the first instalment with anything unpaid, one paid early skipped', () => {
    expect(nextPayment(schedule(['none', 'none', 'none']), '2025-01-20', 0n)).toEqual({
      number: 1,
      dueDate: '2025-02-10',
      amount: 10_200n,
    });
    // Instalment 1 paid before its date: the next payment is instalment 2's, though the current
    // period still ends on 2025-02-10.
    expect(nextPayment(schedule(['all', 'none', 'none']), '2025-01-20', 0n)).toEqual({
      number: 2,
      dueDate: '2025-03-10',
      amount: 10_200n,
    });
    expect(nextPayment(schedule(['all', 'all', 'all']), '2025-01-20', 0n)).toBeNull();
  });

  it('a next payment already due is what is left of it with the penalties owed; one not yet due has none', () => {
    expect(nextPayment(schedule(['part', 'none', 'none']), '2025-02-15', 37n)).toEqual({
      number: 1,
      dueDate: '2025-02-10',
      amount: 6_037n,
    });
    expect(nextPayment(schedule(['part', 'none', 'none']), '2025-02-01', 37n)?.amount).toBe(6_000n);
  });

  it('paying early settles the first instalment not yet due, only while nothing is due', () => {
    expect(earlyPayable(schedule(['none', 'none', 'none']), '2025-01-20', 0n)).toEqual({
      number: 1,
      dueDate: '2025-02-10',
      amount: 10_200n,
    });
    expect(earlyPayable(schedule(['all', 'none', 'none']), '2025-02-10', 0n)?.number).toBe(2);
    expect(earlyInstalment(schedule(['all', 'none', 'none']), '2025-01-20', 0n)).toMatchObject({
      refused: 'LOAN_NOTHING_DUE',
      next: { number: 1 },
    });
    expect(earlyInstalment(schedule(['part', 'none', 'none']), '2025-02-10', 5n)).toEqual({
      refused: 'LOAN_INSTALMENT_DUE',
      due: 6_005n,
    });
    // Penalties left after the instalments were paid are due too.
    expect(earlyInstalment(schedule(['all', 'none', 'none']), '2025-02-11', 5n)).toEqual({
      refused: 'LOAN_INSTALMENT_DUE',
      due: 5n,
    });
    expect(earlyPayable(schedule(['all', 'all', 'all']), '2025-03-11', 0n)).toBeNull();
  });
});
