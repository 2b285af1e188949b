import { MilletError, type Clock } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import { revokedDeviceCode, type PaymentDevices } from './payment-devices.ts';
import type { PaymentService } from './payments.ts';
import { requireIds } from './rows.ts';
import type { Payment, ScanPayCommand } from './types.ts';

function codeUsed(): MilletError {
  return new MilletError(
    'PAYMENT_CODE_USED',
    'This payment code was already used; ask the customer to refresh it',
  );
}

/**
 * The merchant scans the user's payment code and takes the amount from the user's wallet. The code
 * is spent in the payment's own transaction: a row keyed (device, time step) — a second payment
 * with the code, concurrent or later, finds it taken — and the device's last used step, so a code
 * older than one already used is refused too.
 */
export async function scanPay(
  devices: PaymentDevices,
  payments: PaymentService,
  clock: Clock,
  command: ScanPayCommand,
): Promise<Payment> {
  requireIds({ id: command.id, merchantId: command.merchantId });
  // A retried request is answered from its record, even after the code has expired; but only a
  // retry with a code of the same payer is one (another customer's code is another payment).
  const payer = await devices.owner(command.code);
  // The customer chose how this device's codes pay; a merchant may not pick their credit line.
  const method = payer.fundingMethod;
  if (command.method !== undefined && command.method !== method)
    throw new MilletError(
      'PAYMENT_METHOD_NOT_ALLOWED',
      `This payment code pays with "${method}", as its owner chose; a merchant cannot change that`,
      { method: command.method, funding_method: method },
    );
  const replayed = await payments.replay({
    id: command.id,
    merchantId: command.merchantId,
    userId: payer.userId,
    amount: command.amount,
    method,
    details: {},
    description: command.description ?? null,
    source: 'code',
  });
  if (replayed) return replayed;
  const code = await devices.resolve(command.code);
  const spend = async (tx: Queryable, paymentId: string) => {
    const use = await tx.query(
      `INSERT INTO merchants_payment_code_uses (device_id, time_step, payment_id, used_at)
       VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING device_id`,
      [code.deviceId, code.step, paymentId, clock.now()],
    );
    if (use.rows.length === 0) throw codeUsed();
    // A revocation that committed after `resolve` read the device still stops the payment: the
    // update waits for it and then finds the device revoked.
    const device = await tx.query(
      `UPDATE merchants_payment_devices SET last_used_step = $2
        WHERE id = $1 AND revoked_at IS NULL AND (last_used_step IS NULL OR last_used_step < $2)`,
      [code.deviceId, code.step],
    );
    if (device.rowCount === 0) {
      const revoked = await tx.query(
        'SELECT 1 FROM merchants_payment_devices WHERE id = $1 AND revoked_at IS NOT NULL',
        [code.deviceId],
      );
      throw revoked.rows.length > 0 ? revokedDeviceCode() : codeUsed();
    }
  };
  return payments.start(
    {
      id: command.id,
      merchantId: command.merchantId,
      userId: code.userId,
      amount: command.amount,
      method,
      details: {},
      description: command.description ?? null,
      source: 'code',
      orderId: null,
    },
    spend,
  );
}
