import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Payment codes (付款码) the merchant scans from the user's screen. 18 digits:
 *
 *     28 │ 8-digit device index │ 8-digit one-time password
 *
 * "28" marks a Millet code, as real wallet codes start with 25–30; the device index names the
 * device that registered a secret; the password is TOTP (RFC 6238) with HMAC-SHA256 over the
 * 30-second time step, truncated to 8 digits. Nothing in it needs a network, so a phone, band or
 * watch computes the code offline. The server accepts the current and the previous step (about
 * 60 s), the next one for a device clock that runs fast, and each (device, step) once.
 */
export const PAYMENT_CODE_PREFIX = '28';
export const PAYMENT_CODE_STEP_MS = 30_000;
export const DEVICE_INDEX_DIGITS = 8;
const OTP_DIGITS = 8;
const OTP_MODULUS = 10n ** BigInt(OTP_DIGITS);
export const MAX_DEVICE_INDEX = 10 ** DEVICE_INDEX_DIGITS - 1;
const codeFormat = new RegExp(`^${PAYMENT_CODE_PREFIX}(\\d{${DEVICE_INDEX_DIGITS}})(\\d{${OTP_DIGITS}})$`);

/** The 30-second step an instant falls in. */
export function timeStep(at: Date): number {
  return Math.floor(at.getTime() / PAYMENT_CODE_STEP_MS);
}

/** The 8-digit password of a step: HMAC-SHA256(secret, step as 8 bytes big-endian), truncated. */
export function oneTimePassword(secret: Uint8Array, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha256', secret).update(counter).digest();
  // Dynamic truncation (RFC 4226 §5.3), widened to 8 bytes so that mod 10^8 is all but unbiased.
  const offset = mac[mac.length - 1]! & 0x0f;
  const value = mac.readBigUInt64BE(offset) & 0x7fff_ffff_ffff_ffffn;
  return (value % OTP_MODULUS).toString().padStart(OTP_DIGITS, '0');
}

/** The code a device shows at `at`. Pure: the device app runs the same function. */
export function paymentCode(secret: Uint8Array, deviceIndex: number, at: Date): string {
  if (!Number.isInteger(deviceIndex) || deviceIndex < 0 || deviceIndex > MAX_DEVICE_INDEX)
    throw new RangeError(`deviceIndex must be an integer from 0 to ${MAX_DEVICE_INDEX}`);
  return (
    PAYMENT_CODE_PREFIX +
    String(deviceIndex).padStart(DEVICE_INDEX_DIGITS, '0') +
    oneTimePassword(secret, timeStep(at))
  );
}

/** The parts of a well-formed code, or undefined. */
export function parsePaymentCode(code: string): { deviceIndex: number; password: string } | undefined {
  const match = codeFormat.exec(code);
  return match ? { deviceIndex: Number(match[1]), password: match[2]! } : undefined;
}

/**
 * Which step a password belongs to: 'valid' for the current or previous step (or the next, from a
 * device whose clock runs a little fast), 'expired' for one of
 * the `lookBack` steps before them (so the user hears "expired", not "wrong"), else 'invalid'.
 */
export function matchPassword(
  secret: Uint8Array,
  password: string,
  at: Date,
  lookBack = 20,
): { result: 'valid'; step: number } | { result: 'expired' | 'invalid' } {
  const now = timeStep(at);
  const given = Buffer.from(password);
  const equal = (step: number) => timingSafeEqual(Buffer.from(oneTimePassword(secret, step)), given);
  if (given.length !== OTP_DIGITS) return { result: 'invalid' };
  // The step after the server's too: a band or watch computes codes offline, and a clock a few
  // seconds fast shows the next step's code for the last seconds of every step.
  for (const step of [now, now - 1, now + 1]) if (equal(step)) return { result: 'valid', step };
  for (let step = now - 2; step >= now - 1 - lookBack; step--) if (equal(step)) return { result: 'expired' };
  return { result: 'invalid' };
}
