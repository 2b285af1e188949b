import { describe, expect, it } from 'vitest';
import { isMilletError } from '../core/index.ts';
import { checkWebhookUrl, refusedAddressKind, type WebhookUrlPolicy } from './url-policy.ts';

const strict: WebhookUrlPolicy = { allowLoopback: false };
const loopback: WebhookUrlPolicy = { allowLoopback: true };

/** The error code checkWebhookUrl throws, or 'ok'. */
function verdict(url: string, policy: WebhookUrlPolicy): string {
  try {
    checkWebhookUrl(url, 'url', policy);
    return 'ok';
  } catch (error) {
    if (isMilletError(error)) return error.code;
    throw error;
  }
}

/** Loopback in every spelling: allowed only when the policy allows loopback. */
const LOOPBACK = [
  'https://[::1]/',
  'https://localhost./',
  'https://localhost/',
  'https://LOCALHOST/',
  'https://hooks.localhost/',
  'https://hooks.localhost./',
  'http://2130706433/', // the URL parser reads these three as 127.0.0.1
  'http://0x7f000001/',
  'http://127.1:5432/',
  'http://0177.0.0.1/',
  'http://127.0.0.1./',
  'http://localhost:6379/',
  'http://127.0.0.1:8080/hook',
  'http://127.255.255.254/',
  'http://[::1]:9000/',
  'https://[::ffff:127.0.0.1]/',
  'https://[::ffff:7f00:1]/',
];

/** Never allowed: private, link-local, unspecified, CGNAT, unique-local and other non-public ranges. */
const INTERNAL = [
  'https://169.254.169.254/latest/meta-data/',
  'http://169.254.169.254/latest/meta-data/',
  'https://10.0.0.5/',
  'http://10.0.0.5/',
  'https://172.16.0.1/',
  'https://172.31.255.255/',
  'https://192.168.1.1/',
  'https://100.64.0.1/',
  'https://100.127.255.255/',
  'https://0.0.0.0/',
  'https://0/',
  'https://[::]/',
  'https://[fc00::1]/',
  'https://[fd12:3456::1]/',
  'https://[fe80::1]/',
  'https://[::ffff:10.0.0.5]/',
  'https://[::ffff:169.254.169.254]/',
  'https://[::ffff:0.0.0.0]/',
  'https://[::127.0.0.1]/', // IPv4-compatible, deprecated
  'https://[64:ff9b::10.0.0.5]/', // NAT64 of a private address
  'https://[2002:a9fe:a9fe::1]/', // 6to4 of 169.254.169.254
  'https://224.0.0.1/',
  'https://255.255.255.255/',
  'https://[ff02::1]/',
];

const PUBLIC = [
  'https://example.com/hook',
  'https://shop.example./notify',
  'https://93.184.216.34/hook',
  'https://8.8.8.8/',
  'https://100.63.255.255/', // just outside CGNAT
  'https://100.128.0.1/',
  'https://172.15.255.255/', // just outside 172.16/12
  'https://172.32.0.1/',
  'https://169.255.0.1/',
  'https://[2606:4700:4700::1111]/',
  'https://[::ffff:8.8.8.8]/',
  'https://[64:ff9b::8.8.8.8]/',
  'https://localhost.example.com/', // a public name that merely starts with localhost
];

describe('checkWebhookUrl', () => {
  it('refuses loopback in every spelling unless loopback is allowed', () => {
    for (const url of LOOPBACK) {
      expect(verdict(url, strict), url).toBe('WEBHOOK_URL_INVALID');
      expect(verdict(url, loopback), url).toBe('ok');
    }
  });

  it('refuses private, link-local, unspecified, CGNAT and unique-local addresses, loopback allowed or not', () => {
    for (const url of INTERNAL) {
      expect(verdict(url, strict), url).toBe('WEBHOOK_URL_INVALID');
      expect(verdict(url, loopback), url).toBe('WEBHOOK_URL_INVALID');
    }
  });

  it('accepts public https names and addresses', () => {
    for (const url of PUBLIC) {
      expect(verdict(url, strict), url).toBe('ok');
      expect(verdict(url, loopback), url).toBe('ok');
    }
  });

  it('allows plain http only to loopback, and only when loopback is allowed', () => {
    for (const url of ['http://example.com/hook', 'http://93.184.216.34/', 'http://[2606:4700:4700::1111]/'])
      expect(verdict(url, loopback), url).toBe('WEBHOOK_URL_INVALID');
    for (const url of ['ftp://example.com/', 'not a url', 'https://u:p@example.com/'])
      expect(verdict(url, loopback), url).toBe('WEBHOOK_URL_INVALID');
    expect(verdict(`https://example.com/${'x'.repeat(2000)}`, strict)).toBe('WEBHOOK_URL_INVALID');
  });

  it('says what was refused, naming the field, and returns the URL normalised', () => {
    try {
      checkWebhookUrl('https://169.254.169.254/latest/meta-data/', 'notify_url', strict);
      expect.unreachable();
    } catch (error) {
      expect(isMilletError(error) && error.details).toEqual({ field: 'notify_url' });
      expect((error as Error).message).toMatch(/link-local address \(169\.254\.169\.254\)/);
    }
    expect(checkWebhookUrl('http://2130706433:8080/x', 'url', loopback)).toBe('http://127.0.0.1:8080/x');
  });
});

describe('refusedAddressKind', () => {
  it('names the range of a non-public address, and null for a public one', () => {
    expect(refusedAddressKind('127.0.0.1')).toBe('loopback');
    expect(refusedAddressKind('::1')).toBe('loopback');
    expect(refusedAddressKind('::ffff:127.0.0.1')).toBe('loopback');
    expect(refusedAddressKind('10.1.2.3')).toBe('private');
    expect(refusedAddressKind('169.254.169.254')).toBe('link-local');
    expect(refusedAddressKind('fe80::1%eth0')).toBe('link-local');
    expect(refusedAddressKind('0.0.0.0')).toBe('unspecified');
    expect(refusedAddressKind('::')).toBe('unspecified');
    expect(refusedAddressKind('100.64.0.1')).toBe('shared (CGNAT)');
    expect(refusedAddressKind('fd00::1')).toBe('unique local');
    expect(refusedAddressKind('64:ff9b::a00:5')).toBe('private');
    expect(refusedAddressKind('93.184.216.34')).toBeNull();
    expect(refusedAddressKind('2606:4700:4700::1111')).toBeNull();
    expect(refusedAddressKind('example.com')).toBeNull();
  });
});
