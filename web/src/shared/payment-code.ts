/**
 * The payment code a device shows, computed in the browser exactly as src/merchants/payment-code.ts
 * does on the server: "28", the 8-digit device index, and an 8-digit TOTP (HMAC-SHA256 of the
 * device secret over the 30-second step, dynamic truncation widened to 8 bytes, mod 10^8).
 */
export const PAYMENT_CODE_STEP_MS = 30_000;

export async function paymentCode(secretBase64: string, deviceIndex: number, at: number): Promise<string> {
  const secret = Uint8Array.from(atob(secretBase64), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  const counter = new DataView(new ArrayBuffer(8));
  counter.setBigUint64(0, BigInt(Math.floor(at / PAYMENT_CODE_STEP_MS)));
  const mac = new DataView(await crypto.subtle.sign('HMAC', key, counter.buffer));
  const offset = mac.getUint8(mac.byteLength - 1) & 0x0f;
  const value = mac.getBigUint64(offset) & 0x7fff_ffff_ffff_ffffn;
  const password = (value % 100_000_000n).toString().padStart(8, '0');
  return `28${String(deviceIndex).padStart(8, '0')}${password}`;
}

/** Milliseconds until the code changes. */
export function msUntilNextStep(at: number): number {
  return PAYMENT_CODE_STEP_MS - (at % PAYMENT_CODE_STEP_MS);
}
