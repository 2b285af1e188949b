import { describe, expect, it } from 'vitest';
import { ManualClock, businessDateOf } from './clock.ts';
import { derivedId, isUuid } from './ids.ts';
import { canonicalJson } from './canonical-json.ts';

describe('business time', () => {
  it('dates instants in Asia/Shanghai, not UTC', () => {
    expect(businessDateOf(new Date('2025-03-31T15:59:59Z'))).toBe('2025-03-31');
    expect(businessDateOf(new Date('2025-03-31T16:00:00Z'))).toBe('2025-04-01');
  });
  it('gives every instant its own date, also right after another instant of the same minute', () => {
    // Each instant is asked right after one of the same minute, and across the day's end.
    const cases: Array<[string, string]> = [
      ['2026-12-01T15:59:00.000Z', '2026-12-01'],
      ['2026-12-01T15:59:59.999Z', '2026-12-01'],
      ['2026-12-01T16:00:00.000Z', '2026-12-02'],
      ['2026-12-01T16:00:59.999Z', '2026-12-02'],
      ['2026-12-01T15:59:30.000Z', '2026-12-01'],
      // Before 1901 Shanghai kept local mean time (+8:05:43): the day turned 43 s into a minute.
      ['1900-06-30T15:54:16.000Z', '1900-06-30'],
      ['1900-06-30T15:54:18.000Z', '1900-07-01'],
    ];
    for (const [instant, date] of cases) expect(businessDateOf(new Date(instant)), instant).toBe(date);
  });
  it('moves a manual clock only when told', () => {
    const clock = new ManualClock('2025-01-01T00:00:00Z');
    expect(clock.now().toISOString()).toBe('2025-01-01T00:00:00.000Z');
    clock.advance(86_400_000);
    expect(clock.now().toISOString()).toBe('2025-01-02T00:00:00.000Z');
  });
});

describe('ids and canonical JSON', () => {
  it('derives the same valid UUID for the same name', () => {
    const a = derivedId('hold-expiry', 'x');
    expect(isUuid(a)).toBe(true);
    expect(derivedId('hold-expiry', 'x')).toBe(a);
    expect(derivedId('hold-expiry', 'y')).not.toBe(a);
  });
  it('sorts keys and writes bigint as strings', () => {
    expect(canonicalJson({ b: 1n, a: [true, null], c: undefined })).toBe('{"a":[true,null],"b":"1"}');
  });
});
