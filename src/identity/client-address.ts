import { isIPv4, isIPv6 } from 'node:net';

/**
 * The part of a client's address that limits count by. One IPv6 subscriber is given a whole /64
 * (RFC 6177), so counting full IPv6 addresses would let one client rotate through 2^64 of them
 * past every per-address limit; an IPv6 address counts by its /64. An IPv4-mapped IPv6 address
 * (`::ffff:203.0.113.7`, how a dual-stack socket reports IPv4) counts as its IPv4 address.
 * Anything else is returned as given.
 */
export function clientAddressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (!isIPv6(address)) return address;
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, lower-case hex without leading zeros. */
function expandIPv6(address: string): string[] {
  let text = address.split('%')[0]!.toLowerCase(); // a zone id (fe80::1%eth0) is not part of the address
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -dotted[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((group) =>
    Number.parseInt(group, 16).toString(16),
  );
}
