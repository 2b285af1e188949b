import { createHash, randomBytes } from 'node:crypto';

/** Every operator key starts with this, so secret scanners and people can tell what leaked. */
export const OPERATOR_KEY_PREFIX = 'mlt_op_';
const SECRET_LENGTH = 32;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const keyFormat = new RegExp(`^${OPERATOR_KEY_PREFIX}[A-Za-z0-9]{${SECRET_LENGTH}}$`);

/** 32 base62 characters: about 190 bits, alphanumeric so a double click selects the whole key. */
export function generateOperatorKey(): string {
  let secret = '';
  while (secret.length < SECRET_LENGTH) {
    for (const byte of randomBytes(SECRET_LENGTH)) {
      // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
      if (byte < 248 && secret.length < SECRET_LENGTH) secret += ALPHABET[byte % 62];
    }
  }
  return OPERATOR_KEY_PREFIX + secret;
}

export function looksLikeOperatorKey(text: string): boolean {
  return keyFormat.test(text);
}

/**
 * SHA-256 is the right hash here: the key carries ~190 random bits, so there is nothing for a slow
 * password hash to protect against, and a fast hash lets every request look the key up by index.
 */
export function hashOperatorKey(plaintext: string): string {
  return createHash('sha256').update(plaintext).digest('hex');
}

/** What a console shows in place of the key: "mlt_op_AbCd" and the last four characters. */
export function displayParts(plaintext: string): { prefix: string; last4: string } {
  return { prefix: plaintext.slice(0, OPERATOR_KEY_PREFIX.length + 4), last4: plaintext.slice(-4) };
}
