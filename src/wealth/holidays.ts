import { MilletError, type Clock } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import { isBusinessDate } from '../jobs/index.ts';
import { TradingCalendar } from './trading-calendar.ts';

export interface Holiday {
  date: string;
  name: string;
}

/** Adds (or renames) an operator-configured holiday. */
export async function addHoliday(db: Queryable, clock: Clock, holiday: Holiday): Promise<Holiday> {
  if (!isBusinessDate(holiday.date))
    throw new MilletError('VALIDATION_FAILED', 'date must be YYYY-MM-DD', { field: 'date' });
  await db.query(
    `INSERT INTO wealth_holidays (holiday, name, created_at) VALUES ($1, $2, $3)
     ON CONFLICT (holiday) DO UPDATE SET name = excluded.name`,
    [holiday.date, holiday.name, clock.now()],
  );
  return holiday;
}

export async function removeHoliday(db: Queryable, date: string): Promise<void> {
  await db.query('DELETE FROM wealth_holidays WHERE holiday = $1', [date]);
}

export async function listHolidays(db: Queryable): Promise<Holiday[]> {
  const result = await db.query<{ holiday: string; name: string }>(
    'SELECT holiday, name FROM wealth_holidays ORDER BY holiday',
  );
  return result.rows.map((r) => ({ date: r.holiday, name: r.name }));
}

/** The calendar as configured now (a few dozen rows a year; read per order). */
export async function loadCalendar(db: Queryable): Promise<TradingCalendar> {
  return new TradingCalendar((await listHolidays(db)).map((h) => h.date));
}
