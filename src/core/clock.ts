/**
 * Business time. Everything that depends on "now" takes a Clock so tests and demos can move time
 * (fast-forward a month of end-of-day closes) without touching the system clock.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that only moves when told to. */
export class ManualClock implements Clock {
  #ms: number;

  constructor(start: Date | string = '2025-01-01T00:00:00.000Z') {
    this.#ms = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.#ms);
  }

  set(to: Date | string): void {
    this.#ms = new Date(to).getTime();
  }

  advance(ms: number): void {
    this.#ms += ms;
  }
}

/** The zone every business date is in: the platform's books close at midnight Beijing time. */
export const BUSINESS_TIME_ZONE = 'Asia/Shanghai';

const businessDateFormat = new Intl.DateTimeFormat('en-CA', {
  timeZone: BUSINESS_TIME_ZONE,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});

/**
 * Since 1901 Asia/Shanghai's offset from UTC has always been a whole number of minutes, so every
 * instant of one minute has the same business date; the last minute's answer is kept, as
 * formatting through Intl costs microseconds and a payment asks several times.
 */
const WHOLE_MINUTE_OFFSETS_SINCE = Date.UTC(1901, 0, 1);
let lastMinute: { minute: number; date: string } | undefined;

/** The business date (YYYY-MM-DD, Asia/Shanghai) of an instant. */
export function businessDateOf(instant: Date): string {
  const ms = instant.getTime();
  const minute = Math.floor(ms / 60_000);
  if (lastMinute?.minute === minute) return lastMinute.date;
  const date = businessDateFormat.format(instant);
  if (ms >= WHOLE_MINUTE_OFFSETS_SINCE) lastMinute = { minute, date };
  return date;
}

export function businessDate(clock: Clock): string {
  return businessDateOf(clock.now());
}
