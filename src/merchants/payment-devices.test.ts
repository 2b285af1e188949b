import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/index.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import { createDeviceSecretCipher } from './device-secret-cipher.ts';
import { merchantsMigrations } from './merchants.ts';
import { paymentCode } from './payment-code.ts';
import { PaymentDevices } from './payment-devices.ts';
import { PaymentMethodRegistry } from './payment-methods.ts';
import type { PaymentService } from './payments.ts';
import { scanPay } from './scan-pay.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await openTestDatabase(merchantsMigrations);
});
afterAll(async () => {
  await t.close();
});

describe('revoking a payment device', () => {
  it('stops a scan that read the device before the revocation committed', async () => {
    const clock = new ManualClock('2025-06-01T00:00:00Z');
    const methods = new PaymentMethodRegistry();
    methods.register('balance', { collect: () => Promise.resolve({ status: 'succeeded' }) });
    const devices = new PaymentDevices(t.db, clock, createDeviceSecretCipher(randomBytes(32)), methods);
    const userId = randomUUID();
    const { device, secret } = await devices.register({ id: randomUUID(), userId });
    // The payment's transaction runs its claim (spending the code) only after the user revoked the
    // device: `resolve` had already found the device active.
    let spent: unknown = 'not run';
    const payments = {
      replay: () => Promise.resolve(undefined),
      start: async (_command: unknown, claim: (tx: unknown, id: string) => Promise<void>) => {
        await devices.revoke(userId, device.id);
        spent = await t.db
          .transaction((tx) => claim(tx, randomUUID()))
          .then(
            () => 'spent',
            (error: unknown) => error,
          );
        throw spent;
      },
    } as unknown as PaymentService;
    const scanned = scanPay(devices, payments, clock, {
      id: randomUUID(),
      merchantId: randomUUID(),
      code: paymentCode(secret!, device.deviceIndex, clock.now()),
      amount: 100n,
    });
    await expect(scanned).rejects.toMatchObject({
      code: 'PAYMENT_CODE_INVALID',
      details: { reason: 'device_revoked' },
    });
    const uses = await t.db.query('SELECT 1 FROM merchants_payment_code_uses WHERE device_id = $1', [
      device.id,
    ]);
    expect(uses.rows).toEqual([]);
  });
});
