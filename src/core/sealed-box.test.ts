import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveSubkey, open, seal } from './sealed-box.ts';

describe('sealed box', () => {
  const master = randomBytes(32);
  const key = deriveSubkey(master, 'test/purpose');

  it('opens what it sealed, only with the same key and context', () => {
    const stored = seal(key, '11010519491231002X', 'users.resident_id:u1');
    expect(stored).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(stored).not.toContain('1101');
    expect(open(key, stored, 'users.resident_id:u1').toString('utf8')).toBe('11010519491231002X');
    expect(() => open(key, stored, 'users.resident_id:u2')).toThrow();
    expect(() => open(deriveSubkey(master, 'other/purpose'), stored, 'users.resident_id:u1')).toThrow();
  });

  it('refuses a changed byte and an unknown format', () => {
    const stored = seal(key, Buffer.from([1, 2, 3]), 'c');
    const raw = Buffer.from(stored.slice(3), 'base64url');
    raw[raw.length - 20]! ^= 1;
    expect(() => open(key, `v1.${raw.toString('base64url')}`, 'c')).toThrow();
    expect(() => open(key, 'v2.abc', 'c')).toThrow(/format/);
    expect(() => deriveSubkey(randomBytes(16), 'x')).toThrow(/32 bytes/);
  });
});
