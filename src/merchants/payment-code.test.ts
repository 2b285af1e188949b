import { describe, expect, it } from 'vitest';
import { matchPassword, parsePaymentCode, paymentCode, timeStep } from './payment-code.ts';

const secret = Buffer.alloc(32, 7);
const at = new Date('2025-06-01T00:00:10Z');

describe('paymentCode', () => {
  it('is 18 digits: 28, the device index, an 8-digit password; stable within a 30 s step', () => {
    const code = paymentCode(secret, 1234, at);
    expect(code).toMatch(/^2800001234\d{8}$/);
    expect(paymentCode(secret, 1234, new Date(at.getTime() + 15_000))).toBe(code);
    expect(paymentCode(secret, 1234, new Date(at.getTime() + 30_000))).not.toBe(code);
    expect(paymentCode(Buffer.alloc(32, 8), 1234, at)).not.toBe(code);
    expect(parsePaymentCode(code)).toEqual({ deviceIndex: 1234, password: code.slice(10) });
    expect(parsePaymentCode('1800001234' + code.slice(10))).toBeUndefined();
    expect(() => paymentCode(secret, 100_000_000, at)).toThrow(RangeError);
  });

  it('is valid in its step and the next, then expired, and a wrong password is invalid', () => {
    const { password } = parsePaymentCode(paymentCode(secret, 1, at))!;
    const later = (ms: number) => new Date(at.getTime() + ms);
    expect(matchPassword(secret, password, at)).toEqual({ result: 'valid', step: timeStep(at) });
    expect(matchPassword(secret, password, later(30_000))).toEqual({ result: 'valid', step: timeStep(at) });
    expect(matchPassword(secret, password, later(60_000)).result).toBe('expired');
    expect(matchPassword(secret, password, later(3_600_000)).result).toBe('invalid');
    const wrong = String((Number(password) + 1) % 100_000_000).padStart(8, '0');
    expect(matchPassword(secret, wrong, at).result).toBe('invalid');
    expect(matchPassword(secret, '123', at).result).toBe('invalid');
  });

  it('accepts a code of the next step, from a device whose clock runs a few seconds fast, not later ones', () => {
    // The server at 00:00:28, the device at 00:00:31: the device already shows the next step's code.
    const server = new Date('2025-06-01T00:00:28Z');
    const fast = (ms: number) => parsePaymentCode(paymentCode(secret, 1, new Date(server.getTime() + ms)))!;
    expect(matchPassword(secret, fast(3_000).password, server)).toEqual({
      result: 'valid',
      step: timeStep(server) + 1,
    });
    expect(matchPassword(secret, fast(33_000).password, server).result).toBe('invalid');
  });
});
