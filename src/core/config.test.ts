import { describe, expect, it } from 'vitest';
import { loadConfig, parseTrustProxy } from './config.ts';

describe('MILLET_TRUST_PROXY', () => {
  it('is off unless set, and reads true, hop counts and address lists', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(parseTrustProxy('false')).toBe(false);
    expect(parseTrustProxy(' ')).toBe(false);
    expect(parseTrustProxy('true')).toBe(true);
    expect(parseTrustProxy('2')).toBe(2);
    expect(parseTrustProxy('127.0.0.1, 10.0.0.0/8,::1,fd00::/8')).toBe('127.0.0.1,10.0.0.0/8,::1,fd00::/8');
    expect(loadConfig({ MILLET_TRUST_PROXY: '10.0.0.0/8' }).trustProxy).toBe('10.0.0.0/8');
  });

  it('refuses anything else at start-up, naming the variable', () => {
    for (const bad of ['yes', 'proxy.example.com', '10.0.0.0/8;rm', '-1'])
      expect(() => parseTrustProxy(bad), bad).toThrow(/MILLET_TRUST_PROXY must be/);
  });
});
