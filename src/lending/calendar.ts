import { MilletError } from '../core/errors.ts';

/** Calendar arithmetic on dates (YYYY-MM-DD) for schedules; a date has no time zone of its own. */
export function parseDate(date: string): { year: number; month: number; day: number } {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const ms = Date.parse(`${date}T00:00:00Z`);
  if (!match || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== date) {
    throw new MilletError('LENDING_SCHEDULE_INVALID', `"${date}" is not a date (YYYY-MM-DD)`);
  }
  return { year: Number(match[1]), month: Number(match[2]), day: Number(match[3]) };
}

/** Days since 1970-01-01. */
export function dayNumber(date: string): number {
  parseDate(date);
  // Not Date.UTC(year, …): it reads the years 0–99 as 1900–1999.
  return Date.parse(`${date}T00:00:00Z`) / 86_400_000;
}

export function dateOfDayNumber(days: number): string {
  return new Date(days * 86_400_000).toISOString().slice(0, 10);
}

/** Actual days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: string, to: string): number {
  return dayNumber(to) - dayNumber(from);
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/**
 * `months` calendar months after `start`, the day clamped to the month's last day
 * (2025-01-31 + 1 → 2025-02-28, + 2 → 2025-03-31: each due date counts from the start, so a short
 * month does not pull the later ones back).
 */
export function addMonthsClamped(start: string, months: number): string {
  const { year, month, day } = parseDate(start);
  const index = year * 12 + (month - 1) + months;
  const y = Math.floor(index / 12);
  const m = (index % 12) + 1;
  const d = Math.min(day, daysInMonth(y, m));
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}
