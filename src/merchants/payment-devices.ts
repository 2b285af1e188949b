import { randomBytes, randomInt } from 'node:crypto';
import { isMilletError, isUuid, MilletError, type Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import type { DeviceSecretCipher } from './device-secret-cipher.ts';
import { MAX_DEVICE_INDEX, matchPassword, parsePaymentCode } from './payment-code.ts';
import type { PaymentMethodRegistry } from './payment-methods.ts';
import { isUniqueViolation, requireIds } from './rows.ts';
import type { PaymentDevice } from './types.ts';

interface DeviceRow {
  id: string;
  user_id: string;
  device_index: bigint;
  name: string;
  secret_ciphertext: string;
  created_at: Date;
  funding_method: string;
  revoked_at: Date | null;
}

function deviceFromRow(r: DeviceRow): PaymentDevice {
  return {
    id: r.id,
    userId: r.user_id,
    deviceIndex: Number(r.device_index),
    name: r.name,
    fundingMethod: r.funding_method,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  };
}

/** A code that checks out: whose device, and which 30-second step it was shown in. */
export interface ResolvedCode {
  deviceId: string;
  userId: string;
  step: number;
  /** The payment method the user chose for this device's codes. */
  fundingMethod: string;
}

/**
 * The devices that show a user's payment codes. Registering one returns a 32-byte secret, the only
 * time it leaves the server; it is stored AES-256-GCM encrypted. The device index, chosen at
 * random among 10^8, is the part of each code that names the device.
 */
const invalidCode = () =>
  new MilletError('PAYMENT_CODE_INVALID', 'This is not a valid payment code; ask the customer to refresh it');

/** Told to the merchant apart from a wrong code: refreshing will not help, another way to pay will. */
export const revokedDeviceCode = () =>
  new MilletError(
    'PAYMENT_CODE_INVALID',
    'This payment code comes from a device its owner has revoked; it cannot pay. Ask for another way to pay',
    { reason: 'device_revoked' },
  );

const deviceNotFound = (id: string) =>
  new MilletError('PAYMENT_DEVICE_NOT_FOUND', `No payment device ${id}`, { id });

export class PaymentDevices {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly cipher: DeviceSecretCipher,
    private readonly methods: PaymentMethodRegistry,
  ) {}

  /** A retry with the same id returns the device and no secret (it was shown once already). */
  async register(command: {
    id: string;
    userId: string;
    name?: string | undefined;
    fundingMethod?: string | undefined;
  }): Promise<{ device: PaymentDevice; secret: Buffer | null }> {
    requireIds({ id: command.id, userId: command.userId });
    const name = (command.name ?? 'phone').trim();
    if (name.length === 0 || name.length > 64)
      throw new MilletError('VALIDATION_FAILED', 'name must be 1–64 characters', { field: 'name' });
    const fundingMethod = command.fundingMethod ?? 'balance';
    // A code carries nothing but the device: the method must pay without details (no card token).
    try {
      this.methods.get(fundingMethod).validate?.({});
    } catch (error) {
      if (isMilletError(error) && error.code === 'PAYMENT_METHOD_UNKNOWN') throw error;
      throw new MilletError(
        'VALIDATION_FAILED',
        `Payment codes cannot pay with "${fundingMethod}": it needs details a code does not carry`,
        { field: 'funding_method' },
      );
    }
    const secret = randomBytes(32);
    const ciphertext = this.cipher.encrypt(secret, command.id);
    for (let attempt = 0; ; attempt++) {
      try {
        const inserted = await this.db.query<DeviceRow>(
          `INSERT INTO merchants_payment_devices (id, user_id, device_index, name, secret_ciphertext, created_at, funding_method)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING *`,
          [
            command.id,
            command.userId,
            randomInt(0, MAX_DEVICE_INDEX + 1),
            name,
            ciphertext,
            this.clock.now(),
            fundingMethod,
          ],
        );
        if (inserted.rows[0]) return { device: deviceFromRow(inserted.rows[0]), secret };
        const existing = await this.db.query<DeviceRow>(
          'SELECT * FROM merchants_payment_devices WHERE id = $1',
          [command.id],
        );
        const row = existing.rows[0]!;
        if (row.user_id !== command.userId)
          throw new MilletError('IDEMPOTENCY_KEY_REUSED', `Device ${command.id} belongs to someone else`);
        return { device: deviceFromRow(row), secret: null };
      } catch (error) {
        // Another device drew the same index: draw again.
        if (attempt < 8 && isUniqueViolation(error, 'device_index')) continue;
        throw error;
      }
    }
  }

  /**
   * Checks a scanned code: well formed, a known device, and the password of the current or the
   * previous step. Does not spend it: the payment's transaction does, with a unique row.
   */
  async resolve(code: string): Promise<ResolvedCode> {
    const { row, password } = await this.#device(code);
    const secret = this.cipher.decrypt(row.secret_ciphertext, row.id);
    const match = matchPassword(secret, password, this.clock.now());
    // Only a code the device really showed says "revoked": a guess stays merely invalid.
    if (row.revoked_at && match.result !== 'invalid') throw revokedDeviceCode();
    if (match.result !== 'valid')
      throw match.result === 'expired'
        ? new MilletError(
            'PAYMENT_CODE_EXPIRED',
            'This payment code has expired; ask the customer to refresh it',
          )
        : invalidCode();
    return { deviceId: row.id, userId: row.user_id, step: match.step, fundingMethod: row.funding_method };
  }

  /** The user's devices, oldest first, revoked ones included (with when); never their secrets. */
  async list(userId: string): Promise<PaymentDevice[]> {
    requireIds({ userId });
    const result = await this.db.query<DeviceRow>(
      'SELECT * FROM merchants_payment_devices WHERE user_id = $1 ORDER BY created_at, id',
      [userId],
    );
    return result.rows.map(deviceFromRow);
  }

  /**
   * Revokes one of the user's devices (lost, sold): its codes pay nothing from now on, also a scan
   * already past `resolve` (the code's spend checks again, in the payment's transaction). Revoking
   * a revoked device returns it unchanged; another user's device is not found.
   */
  async revoke(userId: string, deviceId: string): Promise<PaymentDevice> {
    if (!isUuid(deviceId) || !isUuid(userId)) throw deviceNotFound(deviceId);
    const result = await this.db.query<DeviceRow>(
      `UPDATE merchants_payment_devices SET revoked_at = coalesce(revoked_at, $3)
        WHERE id = $1 AND user_id = $2 RETURNING *`,
      [deviceId, userId, this.clock.now()],
    );
    if (!result.rows[0]) throw deviceNotFound(deviceId);
    return deviceFromRow(result.rows[0]);
  }

  /**
   * Whose device a code names, without checking its time: a retried scan may come after the code
   * has expired, and must still name the payer of the payment it retries.
   */
  async owner(code: string): Promise<{ deviceId: string; userId: string; fundingMethod: string }> {
    const { row } = await this.#device(code);
    return { deviceId: row.id, userId: row.user_id, fundingMethod: row.funding_method };
  }

  async #device(code: string): Promise<{ row: DeviceRow; password: string }> {
    const parts = parsePaymentCode(code);
    if (!parts) throw invalidCode();
    const result = await this.db.query<DeviceRow>(
      'SELECT * FROM merchants_payment_devices WHERE device_index = $1',
      [parts.deviceIndex],
    );
    const row = result.rows[0];
    if (!row) throw invalidCode();
    return { row, password: parts.password };
  }
}
