import { randomBytes, randomInt } from 'node:crypto';
import { isMilletError, MilletError, type Clock } from '../core/index.ts';
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
}

function deviceFromRow(r: DeviceRow): PaymentDevice {
  return {
    id: r.id,
    userId: r.user_id,
    deviceIndex: Number(r.device_index),
    name: r.name,
    fundingMethod: r.funding_method,
    createdAt: r.created_at,
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
    if (match.result !== 'valid')
      throw match.result === 'expired'
        ? new MilletError(
            'PAYMENT_CODE_EXPIRED',
            'This payment code has expired; ask the customer to refresh it',
          )
        : invalidCode();
    return { deviceId: row.id, userId: row.user_id, step: match.step, fundingMethod: row.funding_method };
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
