import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Authenticated encryption of small secrets at rest (personal data, webhook and device secrets):
 * AES-256-GCM, stored as `v1.<base64url(iv ‖ ciphertext ‖ tag)>`. The associated data (`context`)
 * names the column and the row, so a ciphertext copied elsewhere does not decrypt. Each use derives
 * its own key from the one 32-byte master key with HKDF-SHA256, so one setting serves them all and a
 * key for one purpose opens nothing else.
 */
const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function deriveSubkey(master: Uint8Array, purpose: string): Buffer {
  if (master.byteLength !== 32) throw new Error('The master encryption key must be exactly 32 bytes');
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), purpose, 32));
}

export function seal(key: Buffer, plaintext: Buffer | string, context: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const body = Buffer.concat([
    cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext),
    cipher.final(),
  ]);
  return `${VERSION}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
}

/** Throws when the text was not sealed with this key and context (or was changed). */
export function open(key: Buffer, stored: string, context: string): Buffer {
  const [version, payload] = stored.split('.');
  if (version !== VERSION || !payload) throw new Error('Unknown sealed-box format');
  const raw = Buffer.from(payload, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]);
}
