import { daysBetween } from './calendar.ts';

/**
 * Days past due: from the oldest instalment still unpaid after its due date to `asOf` (vector 10:
 * due 2023-10-01, checked 2023-12-01 → 61). 0 when nothing is past due.
 */
export function daysPastDue(oldestUnpaidDueDate: string | null, asOf: string): number {
  if (oldestUnpaidDueDate === null) return 0;
  return Math.max(0, daysBetween(oldestUnpaidDueDate, asOf));
}

/** Delinquency buckets (DESIGN §2.5): current, 1–3, 4–30, then 30-day buckets to 211–240, then 241+. */
export const delinquencyBuckets = [
  'current',
  '1-3',
  '4-30',
  '31-60',
  '61-90',
  '91-120',
  '121-150',
  '151-180',
  '181-210',
  '211-240',
  '241+',
] as const;
export type DelinquencyBucket = (typeof delinquencyBuckets)[number];

export function delinquencyBucket(dpd: number): DelinquencyBucket {
  if (dpd <= 0) return 'current';
  if (dpd <= 3) return '1-3';
  if (dpd <= 30) return '4-30';
  if (dpd > 240) return '241+';
  return delinquencyBuckets[Math.ceil(dpd / 30) + 1]!;
}

/** The same bucketing in SQL (for the loan book), on an integer expression of days past due. */
export function delinquencyBucketSql(dpd: string): string {
  return `CASE WHEN ${dpd} <= 0 THEN 'current' WHEN ${dpd} <= 3 THEN '1-3' WHEN ${dpd} <= 30 THEN '4-30'
    WHEN ${dpd} > 240 THEN '241+'
    ELSE ((((${dpd}) - 1) / 30) * 30 + 1)::text || '-' || ((((${dpd}) - 1) / 30) * 30 + 30)::text END`;
}
