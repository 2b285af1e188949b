import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Device secrets at rest: AES-256-GCM under a key derived with HKDF-SHA256 from the platform's
 * 32-byte master key (MILLET_PII_KEY), so no new secret has to be configured. The identity module
 * keeps its cipher private, so this is a small one of the same shape:
 * `v1.<base64url(iv ‖ ciphertext ‖ tag)>`, the associated data naming the device row.
 */
export interface DeviceSecretCipher {
  encrypt(secret: Buffer, deviceId: string): string;
  decrypt(stored: string, deviceId: string): Buffer;
}

const VERSION = 'v1';

export function createDeviceSecretCipher(master: Uint8Array): DeviceSecretCipher {
  if (master.byteLength !== 32) throw new Error('The encryption key must be exactly 32 bytes');
  const key = Buffer.from(
    hkdfSync('sha256', master, Buffer.alloc(0), 'millet/merchants/payment-device-secret', 32),
  );
  const aad = (deviceId: string) => Buffer.from(`merchants_payment_devices.secret:${deviceId}`, 'utf8');
  return {
    encrypt(secret, deviceId) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(aad(deviceId));
      const body = Buffer.concat([cipher.update(secret), cipher.final()]);
      return `${VERSION}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
    },
    decrypt(stored, deviceId) {
      const [version, payload] = stored.split('.');
      if (version !== VERSION || !payload) throw new Error('Unknown device secret format');
      const raw = Buffer.from(payload, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAAD(aad(deviceId));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]);
    },
  };
}
