/** Calendar arithmetic on business dates (YYYY-MM-DD); a date has no time zone of its own. */
export function isBusinessDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
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
