import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Webhook secrets at rest: AES-256-GCM under a key derived with HKDF-SHA256 from the master key the
 * composition root passes (the same master as personal data, a different derived key). Stored as
 * `v1.<base64url(iv ‖ ciphertext ‖ tag)>`; the associated data names the row, so a ciphertext copied
 * to another endpoint does not decrypt. Trade-off: signing needs the secret itself, so anyone with
 * the database and the master key can sign as Millet; a hash would make signing impossible.
 */
export interface SecretBox {
  seal(plaintext: string, context: string): string;
  open(stored: string, context: string): string;
}

const VERSION = 'v1';

export function createSecretBox(masterKey: Uint8Array): SecretBox {
  if (masterKey.byteLength !== 32) throw new Error('The webhooks encryption key must be exactly 32 bytes');
  const key = Buffer.from(
    hkdfSync('sha256', masterKey, Buffer.alloc(0), 'millet/webhooks/secret-aes-256-gcm', 32),
  );
  return {
    seal(plaintext, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return `${VERSION}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
    },
    open(stored, context) {
      const [version, payload] = stored.split('.');
      if (version !== VERSION || !payload) throw new Error('Unknown webhook secret ciphertext format');
      const raw = Buffer.from(payload, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString(
        'utf8',
      );
    },
  };
}
