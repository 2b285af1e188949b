import { describe, expect, it } from 'vitest';
import { clientAddressKey } from './client-address.ts';

describe('clientAddressKey', () => {
  it('counts an IPv6 client by its /64, however the address is written', () => {
    const key = clientAddressKey('2001:db8:abcd:12::1');
    expect(key).toBe('2001:db8:abcd:12::/64');
    expect(clientAddressKey('2001:0DB8:ABCD:0012:ffff:ffff:ffff:fffe')).toBe(key);
    expect(clientAddressKey('2001:db8:abcd:12:0:0:0:7')).toBe(key);
    expect(clientAddressKey('2001:db8:abcd:13::1')).not.toBe(key);
    expect(clientAddressKey('::1')).toBe('0:0:0:0::/64');
    expect(clientAddressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientAddressKey('64:ff9b::198.51.100.7')).toBe('64:ff9b:0:0::/64');
  });

  it('counts an IPv4 client, mapped or not, by its address', () => {
    expect(clientAddressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddressKey('::FFFF:203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddressKey('203.0.113.8')).not.toBe('203.0.113.7');
  });

  it('leaves anything that is not an address as it is', () => {
    expect(clientAddressKey('unknown')).toBe('unknown');
  });
});
