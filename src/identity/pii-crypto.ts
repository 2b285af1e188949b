import { createHmac } from 'node:crypto';
import { deriveSubkey, openSealed, seal } from '../core/index.ts';

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
  const derive = (info: string) => deriveSubkey(master, `millet/identity/${info}`);
  return { cipher: derive('pii-aes-256-gcm'), index: derive('blind-index'), jwt: derive('jwt-hs256') };
}

/** Personal data in a field: the shared sealed-box format, the context naming the column and the row. */
export function encryptField(key: Buffer, plaintext: string, context: string): string {
  return seal(key, plaintext, context);
}

export function decryptField(key: Buffer, stored: string, context: string): string {
  return openSealed(key, stored, context).toString('utf8');
}

/** Keyed HMAC-SHA256 of a normalised value, per kind, so equal values are found without decrypting. */
export function blindIndex(key: Buffer, kind: string, value: string): string {
  return createHmac('sha256', key).update(kind).update('\0').update(value).digest('hex');
}
