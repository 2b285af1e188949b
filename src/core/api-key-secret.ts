import { createHash, randomBytes } from 'node:crypto';

/**
 * Bearer API keys (operators' `mlt_op_…`, merchants' `mlt_mk_…`): a fixed prefix, so secret scanners
 * and people can tell what leaked, then 32 base62 characters — about 190 random bits, alphanumeric
 * so a double click selects the whole key.
 */
const SECRET_LENGTH = 32;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function generateApiKey(prefix: string): string {
  let secret = '';
  while (secret.length < SECRET_LENGTH) {
    for (const byte of randomBytes(SECRET_LENGTH)) {
      // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
      if (byte < 248 && secret.length < SECRET_LENGTH) secret += ALPHABET[byte % 62];
    }
  }
  return prefix + secret;
}

export function looksLikeApiKey(text: string, prefix: string): boolean {
  return (
    text.length === prefix.length + SECRET_LENGTH &&
    text.startsWith(prefix) &&
    /^[A-Za-z0-9]+$/.test(text.slice(prefix.length))
  );
}

/**
 * SHA-256 is the right hash here: the key carries ~190 random bits, so there is nothing for a slow
 * password hash to protect against, and a fast hash lets every request look the key up by index.
 */
export function hashApiKey(plaintext: string): string {
  return createHash('sha256').update(plaintext).digest('hex');
}

/** What a console shows in place of the key: the prefix and four characters, and the last four. */
export function apiKeyDisplayParts(plaintext: string, prefix: string): { prefix: string; last4: string } {
  return { prefix: plaintext.slice(0, prefix.length + 4), last4: plaintext.slice(-4) };
}
