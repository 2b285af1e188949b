import { describe, expect, it } from 'vitest';
import { loadConfig, parseTrustProxy, smsSandboxCodes, webhooksAllowLoopback } from './config.ts';

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

describe('MILLET_WEBHOOKS_ALLOW_LOOPBACK', () => {
  const allowed = (env: Record<string, string>) => webhooksAllowLoopback(loadConfig(env));

  it('is on by default only for the embedded demo, off on PostgreSQL or without the demo', () => {
    expect(allowed({})).toBe(true);
    expect(allowed({ MILLET_DEMO: '0' })).toBe(false);
    expect(allowed({ DATABASE_URL: 'postgres://db/millet' })).toBe(false);
  });

  it('follows the variable when set, and refuses anything but 1/0/true/false', () => {
    expect(allowed({ DATABASE_URL: 'postgres://db/millet', MILLET_WEBHOOKS_ALLOW_LOOPBACK: '1' })).toBe(true);
    expect(allowed({ MILLET_WEBHOOKS_ALLOW_LOOPBACK: '0' })).toBe(false);
    expect(allowed({ MILLET_WEBHOOKS_ALLOW_LOOPBACK: 'false' })).toBe(false);
    expect(allowed({ MILLET_WEBHOOKS_ALLOW_LOOPBACK: '' })).toBe(true);
    expect(() => loadConfig({ MILLET_WEBHOOKS_ALLOW_LOOPBACK: 'yes' })).toThrow(
      /MILLET_WEBHOOKS_ALLOW_LOOPBACK must be 1 or 0/,
    );
  });
});

describe('MILLET_SMS_SANDBOX_CODES', () => {
  const exposed = (env: Record<string, string>) => smsSandboxCodes(loadConfig(env));

  it('is on by default only for the embedded demo, and follows the variable when set', () => {
    expect(exposed({})).toBe(true);
    expect(exposed({ MILLET_DEMO: '0' })).toBe(false);
    expect(exposed({ DATABASE_URL: 'postgres://db/millet' })).toBe(false);
    expect(exposed({ DATABASE_URL: 'postgres://db/millet', MILLET_SMS_SANDBOX_CODES: '1' })).toBe(true);
    expect(exposed({ MILLET_SMS_SANDBOX_CODES: '0' })).toBe(false);
    expect(() => loadConfig({ MILLET_SMS_SANDBOX_CODES: 'yes' })).toThrow(
      /MILLET_SMS_SANDBOX_CODES must be 1 or 0/,
    );
  });
});

describe('blank settings', () => {
  it('are unset, not empty: the defaults apply', () => {
    const blank = loadConfig({ PORT: '', HOST: ' ', MILLET_DATA_DIR: '', LOG_LEVEL: '', MILLET_DEMO: '' });
    const defaults = loadConfig({});
    expect(blank.port).toBe(3000);
    expect(blank.host).toBe('0.0.0.0');
    expect(blank.dataDir).toBe(defaults.dataDir);
    expect(blank.dataDir).not.toBe(process.cwd());
    expect(blank.logLevel).toBe('info');
    expect(blank.demo).toBe(true);
  });
});
