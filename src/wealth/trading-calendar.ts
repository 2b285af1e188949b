import { businessDateOf, businessTimeOffsetMs } from '../core/index.ts';
// The shared helper, not a copy: past 9999-12-31 it throws, where a copy sliced "+010000-01" out of
// toISOString and stored it as a trade or confirmation date that sorts before every real one.
import { addDays } from '../jobs/index.ts';

/**
 * The trading calendar and the 15:00 cut-off (DESIGN §2.7). A trading day is a weekday that is not
 * an operator-configured holiday. An order placed before 15:00 Asia/Shanghai on a trading day has
 * that day as its trade date T; an order after 15:00, or on a weekend or holiday, has the next
 * trading day as T. Subscriptions are confirmed — and normal redemptions paid out — on the next
 * trading day after T, and subscriptions earn from that confirmation day on.
 *
 * Dates are YYYY-MM-DD business dates. The hour is read in business time with the zone's real offset
 * at that instant, as the business date is: not a fixed +8 hours, which in a summer-time year
 * (+9 in 1986–91) took 15:30 for 14:30, and 00:30 for 23:30 of the day before.
 */
export const CUT_OFF_HOUR = 15;

export interface TradingDates {
  /** The trade date T of the order. */
  tradeDate: string;
  /** The next trading day after T: subscription confirmed (earning from it), redemption paid. */
  confirmDate: string;
}

export class TradingCalendar {
  readonly #holidays: ReadonlySet<string>;

  constructor(holidays: Iterable<string> = []) {
    this.#holidays = new Set(holidays);
  }

  isTradingDay(date: string): boolean {
    const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
    return weekday !== 0 && weekday !== 6 && !this.#holidays.has(date);
  }

  /** The first trading day strictly after `date`. */
  nextTradingDay(date: string): string {
    let next = addDays(date, 1);
    // Bounded: no calendar has a year without trading days.
    for (let i = 0; i < 366 && !this.isTradingDay(next); i++) next = addDays(next, 1);
    return next;
  }

  /** T and its confirmation day for an order placed at `at`. */
  datesFor(at: Date): TradingDates {
    const date = businessDateOf(at);
    const hour = new Date(at.getTime() + businessTimeOffsetMs(at)).getUTCHours();
    const tradeDate = this.isTradingDay(date) && hour < CUT_OFF_HOUR ? date : this.nextTradingDay(date);
    return { tradeDate, confirmDate: this.nextTradingDay(tradeDate) };
  }
}
