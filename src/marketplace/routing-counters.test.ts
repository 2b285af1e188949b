import { describe, expect, it } from 'vitest';
import { holdsSince } from './routing-counters.ts';

describe('holdsSince', () => {
  it('is the first of the month before, across a year end', () => {
    expect(holdsSince('2025-07-01')).toBe('2025-06-01');
    expect(holdsSince('2025-07-31')).toBe('2025-06-01');
    expect(holdsSince('2026-01-15')).toBe('2025-12-01');
    expect(holdsSince('2026-03-01')).toBe('2026-02-01');
  });
});
