import { describe, expect, it } from 'vitest';
import { reconcile } from './settlement.ts';

describe('reconcile', () => {
  it('lists every field that differs and rows present on one side only', () => {
    const line = (applicationId: string, disbursed: bigint, interest = 0n, approved = true) => ({
      applicationId,
      approved,
      disbursedAmount: disbursed,
      repaidInterest: interest,
      feeFen: 0n,
    });
    const row = (application_id: string, disbursed: string, interest = '0', approved = true) => ({
      application_id,
      approved,
      disbursed_amount: disbursed,
      repaid_interest: interest,
    });
    expect(
      reconcile(
        [line('a', 100n), line('b', 200n, 5n), line('c', 0n, 0n, false), line('d', 1n)],
        [row('a', '100'), row('b', '200', '6'), row('c', '0', '0', true), row('e', '9')],
      ),
    ).toEqual([
      { applicationId: 'b', field: 'repaid_interest', platform: '5', partner: '6' },
      { applicationId: 'c', field: 'approved', platform: 'false', partner: 'true' },
      { applicationId: 'd', field: 'missing_at_partner', platform: 'present', partner: null },
      { applicationId: 'e', field: 'missing_at_platform', platform: null, partner: 'present' },
    ]);
    expect(reconcile([line('a', 100n)], [row('a', '100')])).toEqual([]);
  });
});
