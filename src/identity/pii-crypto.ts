import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Field-level encryption of personal data. One 32-byte master key (MILLET_PII_KEY) is stretched with
 * HKDF-SHA256 into three independent keys: AES-256-GCM for the fields, HMAC-SHA256 for the blind
 * indexes (equality lookups without decrypting), and HS256 for access tokens.
 */
export interface PiiKeys {
  cipher: Buffer;
  index: Buffer;
  jwt: Uint8Array;
}

export function derivePiiKeys(master: Uint8Array): PiiKeys {
  if (master.byteLength !== 32) throw new Error('The PII key must be exactly 32 bytes');
  const derive = (info: string) =>
    Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `millet/identity/${info}`, 32));
  return { cipher: derive('pii-aes-256-gcm'), index: derive('blind-index'), jwt: derive('jwt-hs256') };
}

const VERSION = 'v1';

/**
 * `v1.<base64url(iv ‖ ciphertext ‖ tag)>`. The associated data names the column and the row, so a
 * ciphertext copied into another row or column fails to decrypt.
 */
export function encryptField(key: Buffer, plaintext: string, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `${VERSION}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
}

export function decryptField(key: Buffer, stored: string, context: string): string {
  const [version, payload] = stored.split('.');
  if (version !== VERSION || !payload) throw new Error('Unknown PII ciphertext format');
  const raw = Buffer.from(payload, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString(
    'utf8',
  );
}

/** Keyed HMAC-SHA256 of a normalised value, per kind, so equal values are found without decrypting. */
export function blindIndex(key: Buffer, kind: string, value: string): string {
  return createHmac('sha256', key).update(kind).update('\0').update(value).digest('hex');
}
