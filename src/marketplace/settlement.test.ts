import { describe, expect, it } from 'vitest';
import { checkMonth, reconcile } from './settlement.ts';

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

  it('lists every further row the partner reported for one application, comparing the first', () => {
    const row = (application_id: string, disbursed: string) => ({
      application_id,
      approved: true,
      disbursed_amount: disbursed,
      repaid_interest: '0',
    });
    const line = {
      applicationId: 'a',
      approved: true,
      disbursedAmount: 100n,
      repaidInterest: 0n,
      feeFen: 0n,
    };
    expect(reconcile([line], [row('a', '100'), row('b', '5'), row('a', '1'), row('b', '5')])).toEqual([
      { applicationId: 'a', field: 'duplicate_at_partner', platform: '1', partner: '2' },
      { applicationId: 'b', field: 'duplicate_at_partner', platform: '0', partner: '2' },
      { applicationId: 'b', field: 'missing_at_platform', platform: null, partner: 'present' },
    ]);
  });
});

describe('checkMonth', () => {
  it('takes YYYY-MM from 2000-01 to 2999-12 only', () => {
    for (const month of ['2000-01', '2025-06', '2999-12']) expect(() => checkMonth(month)).not.toThrow();
    for (const month of ['9999-12', '1999-12', '2025-00', '2025-13', '2025-6', '2025-06-01', ''])
      expect(() => checkMonth(month), month).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
  });
});
