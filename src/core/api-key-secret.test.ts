import { describe, expect, it } from 'vitest';
import { apiKeyDisplayParts, generateApiKey, hashApiKey, looksLikeApiKey } from './api-key-secret.ts';

describe('API key secrets', () => {
  it('are the prefix and 32 base62 characters, recognised only with their own prefix', () => {
    const key = generateApiKey('mlt_mk_');
    expect(key).toMatch(/^mlt_mk_[A-Za-z0-9]{32}$/);
    expect(looksLikeApiKey(key, 'mlt_mk_')).toBe(true);
    expect(looksLikeApiKey(key, 'mlt_op_')).toBe(false);
    expect(looksLikeApiKey(`${key}x`, 'mlt_mk_')).toBe(false);
    expect(looksLikeApiKey(key.replace(/.$/, '-'), 'mlt_mk_')).toBe(false);
    expect(generateApiKey('mlt_mk_')).not.toBe(key);
  });

  it('hash to a stable SHA-256 and display without the secret', () => {
    expect(hashApiKey('mlt_op_abc')).toBe(hashApiKey('mlt_op_abc'));
    expect(hashApiKey('mlt_op_abc')).toMatch(/^[0-9a-f]{64}$/);
    const key = generateApiKey('mlt_op_');
    const { prefix, last4 } = apiKeyDisplayParts(key, 'mlt_op_');
    expect(prefix).toBe(key.slice(0, 11));
    expect(last4).toBe(key.slice(-4));
  });
});
