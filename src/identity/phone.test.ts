import { describe, expect, it } from 'vitest';
import { maskPhone, normalizePhone } from './phone.ts';
import { blindIndex, decryptField, derivePiiKeys, encryptField } from './pii-crypto.ts';

describe('phone numbers', () => {
  it('assumes +86 for a bare mainland mobile number and keeps E.164 as given', () => {
    expect(normalizePhone('13812345678')).toBe('+8613812345678');
    expect(normalizePhone('138 1234 5678')).toBe('+8613812345678');
    expect(normalizePhone('+86 138-1234-5678')).toBe('+8613812345678');
    expect(normalizePhone('+14155552671')).toBe('+14155552671');
  });

  it('refuses what is not a mainland mobile or E.164 number', () => {
    for (const bad of [
      '12812345678',
      '1381234567',
      '+8612812345678',
      '+86138123456789',
      'abc',
      '+0123456789',
      '',
    ])
      expect(() => normalizePhone(bad)).toThrow(expect.objectContaining({ code: 'PHONE_INVALID' }));
  });

  it('masks the middle digits', () => {
    expect(maskPhone('+8613812345678')).toBe('138****5678');
    expect(maskPhone('+14155552671')).toBe('+1******2671');
    expect(maskPhone('+6834002')).toBe('+6****02');
  });

  it('hides at least half the digits of a number of any E.164 length', () => {
    for (let length = 7; length <= 15; length += 1) {
      const e164 = `+${'123456789012345'.slice(0, length)}`;
      const masked = maskPhone(normalizePhone(e164));
      expect(masked).toMatch(/^\+\d+\*+\d+$/);
      expect(masked).toHaveLength(e164.length);
      expect([...masked].filter((c) => c === '*').length).toBeGreaterThanOrEqual(length / 2);
    }
  });
});

describe('PII encryption', () => {
  const keys = derivePiiKeys(Buffer.alloc(32, 7));

  it('round-trips, with a fresh IV each time, and only in its own row and column', () => {
    const a = encryptField(keys.cipher, '张三', 'identity_users.real_name:u1');
    const b = encryptField(keys.cipher, '张三', 'identity_users.real_name:u1');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^v1\./);
    expect(decryptField(keys.cipher, a, 'identity_users.real_name:u1')).toBe('张三');
    expect(() => decryptField(keys.cipher, a, 'identity_users.real_name:u2')).toThrow();
    // Flip one bit of the ciphertext body (not a base64 character, whose low bits may be padding).
    const raw = Buffer.from(a.slice(3), 'base64url');
    raw[12]! ^= 1;
    const tampered = `v1.${raw.toString('base64url')}`;
    expect(() => decryptField(keys.cipher, tampered, 'identity_users.real_name:u1')).toThrow();
  });

  it('derives independent keys and a stable, keyed blind index', () => {
    expect(keys.cipher.equals(keys.index)).toBe(false);
    expect(blindIndex(keys.index, 'phone', '+8613812345678')).toBe(
      blindIndex(keys.index, 'phone', '+8613812345678'),
    );
    expect(blindIndex(keys.index, 'phone', '+8613812345678')).not.toBe(
      blindIndex(derivePiiKeys(Buffer.alloc(32, 8)).index, 'phone', '+8613812345678'),
    );
    expect(() => derivePiiKeys(Buffer.alloc(16))).toThrow(/32 bytes/);
  });
});
