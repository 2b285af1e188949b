import { describe, expect, it } from 'vitest';
import { isMilletError } from '../core/index.ts';
import { AttemptRefusals } from './refusals.ts';

describe('attempt refusals', () => {
  it('gives one error object per distinct answer, with the code and details a client acts on', () => {
    const refusals = new AttemptRefusals();
    const soldOut = refusals.rejected('sold_out');
    expect(refusals.rejected('sold_out')).toBe(soldOut);
    expect(refusals.rejected('limit_reached')).not.toBe(soldOut);
    expect(isMilletError(soldOut)).toBe(true);
    expect(soldOut).toMatchObject({ code: 'STORE_ATTEMPT_REJECTED', details: { reason: 'sold_out' } });

    const slow = { action: 'slow_down' as const, score: 40, reasons: ['user_velocity' as const] };
    const slowDown = refusals.risk('slow_down', { ...slow, retryAfterSeconds: 10 });
    expect(slowDown).toMatchObject({
      code: 'RATE_LIMITED',
      details: { retryAfterSeconds: 10, reasons: ['user_velocity'] },
    });
    expect(refusals.risk('slow_down', { ...slow, retryAfterSeconds: 10 })).toBe(slowDown);
    expect(refusals.risk('slow_down', { ...slow, retryAfterSeconds: 20 })).not.toBe(slowDown);

    const farm = { action: 'block' as const, score: 105, reasons: ['shared_device' as const] };
    const blocked = refusals.risk('block', farm);
    expect(blocked).toMatchObject({ code: 'STORE_ATTEMPT_BLOCKED', details: { reasons: ['shared_device'] } });
    expect(refusals.risk('block', { ...farm, reasons: ['shared_device', 'new_account'] })).not.toBe(blocked);
    expect(refusals.risk('challenge', farm)).toMatchObject({ code: 'STORE_CHALLENGE_REQUIRED' });
    // The decision's array is the guard's; the shared error keeps its own copy.
    farm.reasons.push('shared_device');
    expect(blocked.details).toEqual({ reasons: ['shared_device'] });
    expect(refusals.notRegistered()).toBe(refusals.notRegistered());
    expect(refusals.notRegistered()).toMatchObject({ code: 'STORE_NOT_REGISTERED' });
  });
});
