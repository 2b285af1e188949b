import { businessTimeOffsetMs } from '../core/index.ts';

/** Calendar arithmetic on business dates (YYYY-MM-DD); a date has no time zone of its own. */

/**
 * A date every caller can store: a real calendar day (not 2025-02-30) that PostgreSQL's `date`
 * takes. JavaScript has a year 0000 and PostgreSQL does not (1 BC comes before 0001), so year
 * 0000 is refused here; every other YYYY-MM-DD day of JavaScript's proleptic Gregorian calendar
 * (0001-01-01 to 9999-12-31, leap days alike) is one of PostgreSQL's too.
 */
export function isBusinessDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text) || text.startsWith('0000')) return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === text;
}

function parse(businessDate: string): Date {
  if (!isBusinessDate(businessDate))
    throw new RangeError(`not a business date (YYYY-MM-DD, 0001-01-01 to 9999-12-31): ${businessDate}`);
  return new Date(`${businessDate}T00:00:00Z`);
}

/** The date `days` later (earlier when negative); a RangeError past 0001-01-01 or 9999-12-31. */
export function addDays(businessDate: string, days: number): string {
  const date = parse(businessDate);
  date.setUTCDate(date.getUTCDate() + days);
  // toISOString writes years outside 0000–9999 as ±YYYYYY: never sliced into a date.
  const next = date.toISOString().slice(0, 10);
  if (!isBusinessDate(next))
    throw new RangeError(
      `${businessDate} + ${days} days is outside the business dates 0001-01-01 to 9999-12-31`,
    );
  return next;
}

const HOUR = 3_600_000;

/**
 * The first instant whose business time reads `wall` (a local time written as if it were UTC) or
 * later. The zone's offset is read at the instant itself and checked on both sides, as it changed
 * (local mean time until 1901, daylight saving in some years), once at midnight.
 */
function firstInstantAtOrAfter(wall: number): number {
  const local = (t: number) => t + businessTimeOffsetMs(new Date(t));
  const isFirst = (t: number) => local(t) >= wall && local(t - 1) < wall;
  let t = wall - 8 * HOUR;
  for (let i = 0; i < 4; i++) {
    if (isFirst(t)) return t;
    t = wall - businessTimeOffsetMs(new Date(t));
  }
  // Not reached for Asia/Shanghai's history; a search bounded by the widest offsets otherwise.
  let lo = wall - 15 * HOUR;
  let hi = wall + 15 * HOUR;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (local(mid) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** The last instant of a business date in Asia/Shanghai: the instant before the next day begins. */
export function endOfBusinessDate(businessDate: string): Date {
  const next = parse(businessDate);
  next.setUTCDate(next.getUTCDate() + 1);
  return new Date(firstInstantAtOrAfter(next.getTime()) - 1);
}
