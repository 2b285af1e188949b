import { businessDateOf } from '../core/index.ts';

/**
 * Seven-day no-reason returns. The Law of the People's Republic of China on the Protection of
 * Consumer Rights and Interests (as amended in 2013), Art. 25: goods bought online may be returned
 * without giving a reason within seven days of receipt. The SAMR's Interim Measures for Seven-Day
 * No-Reason Returns of Goods Purchased Online (2017), Art. 7, count those seven days from the day
 * after the goods were signed for; the Civil Code (Art. 201, 203) likewise leaves the first day
 * out and ends a period at the end of its last day. Receipt is the store's `delivered` step, and
 * days are business days in Asia/Shanghai: delivered at any time on 1 December, a return may be
 * asked for until the end of 8 December, Beijing time.
 */
export const RETURN_DAYS = 7;

/** The last instant (Asia/Shanghai) a return of goods delivered at `deliveredAt` may be asked for. */
export function returnDeadline(deliveredAt: Date): Date {
  const day = new Date(`${businessDateOf(deliveredAt)}T00:00:00Z`);
  day.setUTCDate(day.getUTCDate() + RETURN_DAYS);
  // Asia/Shanghai has been UTC+8 all year since 1991 (no daylight saving).
  return new Date(`${day.toISOString().slice(0, 10)}T23:59:59.999+08:00`);
}
