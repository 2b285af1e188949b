import { deriveSubkey, openSealed, seal } from '../core/index.ts';

/**
 * Device secrets at rest: AES-256-GCM under a key derived with HKDF-SHA256 from the platform's
 * 32-byte master key (MILLET_PII_KEY), so no new secret has to be configured; the sealed-box format
 * of src/core, the associated data naming the device row.
 */
export interface DeviceSecretCipher {
  encrypt(secret: Buffer, deviceId: string): string;
  decrypt(stored: string, deviceId: string): Buffer;
}

export function createDeviceSecretCipher(master: Uint8Array): DeviceSecretCipher {
  const key = deriveSubkey(master, 'millet/merchants/payment-device-secret');
  const context = (deviceId: string) => `merchants_payment_devices.secret:${deviceId}`;
  return {
    encrypt: (secret, deviceId) => seal(key, secret, context(deviceId)),
    decrypt: (stored, deviceId) => openSealed(key, stored, context(deviceId)),
  };
}
