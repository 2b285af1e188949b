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

export function addDays(businessDate: string, days: number): string {
  const date = new Date(`${businessDate}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

/** The last instant of a business date in Asia/Shanghai (UTC+8 all year, no daylight saving). */
export function endOfBusinessDate(businessDate: string): Date {
  return new Date(`${businessDate}T23:59:59.999+08:00`);
}
