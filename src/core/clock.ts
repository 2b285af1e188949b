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
 * en-CA writes the year as a bare number ("999-06-01") and years before 1 as 1 BC, 2 BC… without
 * saying so ("1-06-01" for the year 0): years before 1000 are read from the parts, era included.
 */
const businessPartsFormat = new Intl.DateTimeFormat('en-US', {
  timeZone: BUSINESS_TIME_ZONE,
  era: 'short',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  timeZoneName: 'longOffset',
});
const FOUR_DIGIT_YEARS_FROM = Date.UTC(1000, 0, 2);
const BUSINESS_DATE_TEXT = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Since 1901 Asia/Shanghai's offset from UTC has always been a whole number of minutes, so every
 * instant of one minute has the same business date; the last minute's answer is kept, as
 * formatting through Intl costs microseconds and a payment asks several times.
 */
const WHOLE_MINUTE_OFFSETS_SINCE = Date.UTC(1901, 0, 1);
let lastMinute: { minute: number; date: string } | undefined;

function earlyBusinessDate(instant: Date): string {
  let year = 0;
  let month = '';
  let day = '';
  let bc = false;
  for (const p of businessPartsFormat.formatToParts(instant)) {
    if (p.type === 'year') year = Number(p.value);
    else if (p.type === 'month') month = p.value;
    else if (p.type === 'day') day = p.value;
    else if (p.type === 'era') bc = p.value === 'BC';
  }
  // 1 BC is the year 0 (ISO 8601, and JavaScript's Date).
  const iso = bc ? 1 - year : year;
  return `${iso < 0 ? '-' : ''}${String(Math.abs(iso)).padStart(4, '0')}-${month}-${day}`;
}

/**
 * The business date (YYYY-MM-DD, Asia/Shanghai) of an instant. Business dates run from 0001-01-01
 * to 9999-12-31 (what isBusinessDate accepts and PostgreSQL's date stores); an instant outside
 * them is a RangeError, never a date in another shape.
 */
export function businessDateOf(instant: Date): string {
  const ms = instant.getTime();
  const minute = Math.floor(ms / 60_000);
  if (lastMinute?.minute === minute) return lastMinute.date;
  const date = ms >= FOUR_DIGIT_YEARS_FROM ? businessDateFormat.format(instant) : earlyBusinessDate(instant);
  if (!BUSINESS_DATE_TEXT.test(date) || date.startsWith('0000'))
    throw new RangeError(
      `${instant.toISOString()} falls on ${date} in ${BUSINESS_TIME_ZONE}, outside the business dates 0001-01-01 to 9999-12-31`,
    );
  if (ms >= WHOLE_MINUTE_OFFSETS_SINCE) lastMinute = { minute, date };
  return date;
}

/**
 * The offset of business time from UTC at an instant, in milliseconds: not always +8 hours
 * (local mean time +08:05:43 before 1901, daylight saving +9 hours in 1919, the 1940s and 1986–91).
 */
export function businessTimeOffsetMs(instant: Date): number {
  const name = businessPartsFormat.formatToParts(instant).find((p) => p.type === 'timeZoneName')?.value;
  const m = /^GMT(?:([+-])(\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(name ?? '');
  if (!m) throw new RangeError(`unexpected zone offset ${String(name)} at ${instant.toISOString()}`);
  if (!m[1]) return 0;
  const ms = ((Number(m[2]) * 60 + Number(m[3])) * 60 + Number(m[4] ?? 0)) * 1000;
  return m[1] === '-' ? -ms : ms;
}

export function businessDate(clock: Clock): string {
  return businessDateOf(clock.now());
}
