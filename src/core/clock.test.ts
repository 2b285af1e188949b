import { describe, expect, it } from 'vitest';
import { ManualClock, businessDateOf } from './clock.ts';
import { derivedId, isUuid } from './ids.ts';
import { canonicalJson } from './canonical-json.ts';

describe('business time', () => {
  it('dates instants in Asia/Shanghai, not UTC', () => {
    expect(businessDateOf(new Date('2025-03-31T15:59:59Z'))).toBe('2025-03-31');
    expect(businessDateOf(new Date('2025-03-31T16:00:00Z'))).toBe('2025-04-01');
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
