import { describe, expect, it } from 'vitest';
import { MilletError, isMilletError, refusal } from './errors.ts';

describe('refusal', () => {
  it('is a MilletError with the code, message and details, and no stack frames', () => {
    const error = refusal('STORE_ATTEMPT_REJECTED', 'Sold out', { reason: 'sold_out' });
    expect(error).toBeInstanceOf(MilletError);
    expect(isMilletError(error)).toBe(true);
    expect(error.toJSON()).toEqual({
      code: 'STORE_ATTEMPT_REJECTED',
      message: 'Sold out',
      details: { reason: 'sold_out' },
    });
    expect(error.stack).not.toMatch(/\n\s+at /);
    expect(new MilletError('INTERNAL', 'x').stack).toMatch(/\n\s+at /);
  });

  it('leaves the stack trace limit as it found it', () => {
    const before = Error.stackTraceLimit;
    refusal('RATE_LIMITED', 'Wait');
    expect(Error.stackTraceLimit).toBe(before);
  });
});
