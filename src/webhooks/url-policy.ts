import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net';
import { MilletError } from '../core/index.ts';

/** Which targets a webhook URL may name (checked when it is given, and again at each attempt). */
export interface WebhookUrlPolicy {
  /**
   * This machine's loopback (127.0.0.0/8, ::1, `localhost`, `*.localhost`), over plain http too:
   * for development, tests and the embedded demo only (MILLET_WEBHOOKS_ALLOW_LOOPBACK). Private,
   * link-local and other non-public addresses stay refused either way.
   */
  allowLoopback: boolean;
}

/** Why an address is no place to send a webhook. */
export type RefusedAddressKind =
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unspecified'
  | 'shared (CGNAT)'
  | 'unique local'
  | 'multicast'
  | 'reserved';

/** First match wins, so the narrow IPv6 ranges come before `::/96`. */
const RANGES: ReadonlyArray<readonly [RefusedAddressKind, string, number, 'ipv4' | 'ipv6']> = [
  ['unspecified', '0.0.0.0', 8, 'ipv4'], // "this network"; 0.0.0.0 reaches this host
  ['private', '10.0.0.0', 8, 'ipv4'],
  ['shared (CGNAT)', '100.64.0.0', 10, 'ipv4'],
  ['loopback', '127.0.0.0', 8, 'ipv4'],
  ['link-local', '169.254.0.0', 16, 'ipv4'], // cloud metadata: 169.254.169.254
  ['private', '172.16.0.0', 12, 'ipv4'],
  ['reserved', '192.0.0.0', 24, 'ipv4'], // IETF protocol assignments
  ['private', '192.168.0.0', 16, 'ipv4'],
  ['reserved', '198.18.0.0', 15, 'ipv4'], // benchmarking
  ['multicast', '224.0.0.0', 4, 'ipv4'],
  ['reserved', '240.0.0.0', 4, 'ipv4'], // and the broadcast address
  ['unspecified', '::', 128, 'ipv6'],
  ['loopback', '::1', 128, 'ipv6'],
  ['reserved', '::', 96, 'ipv6'], // IPv4-compatible (deprecated)
  ['reserved', '100::', 64, 'ipv6'], // discard-only
  ['unique local', 'fc00::', 7, 'ipv6'],
  ['link-local', 'fe80::', 10, 'ipv6'],
  ['private', 'fec0::', 10, 'ipv6'], // site-local (deprecated)
  ['multicast', 'ff00::', 8, 'ipv6'],
];

// One BlockList per range, so a match can say which kind it is. BlockList also matches
// IPv4-mapped IPv6 addresses (::ffff:127.0.0.1, ::ffff:7f00:1) against the IPv4 ranges.
const LISTS = RANGES.map(([kind, network, prefix, family]) => {
  const list = new BlockList();
  list.addSubnet(network, prefix, family);
  return { kind, list };
});

/**
 * What kind of non-public address `address` (an IP literal, no brackets) is, or null for a public
 * one, or for something that is not an IP address at all. IPv6 forms that embed an IPv4 address
 * (mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by that address.
 */
export function refusedAddressKind(address: string): RefusedAddressKind | null {
  const bare = address.replace(/%.*$/, ''); // an IPv6 zone (fe80::1%eth0)
  const family = isIP(bare);
  if (family === 0) return null;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const { kind, list } of LISTS) if (list.check(bare, type)) return kind;
  if (family === 6) {
    const embedded = embeddedIPv4(bare);
    if (embedded) return refusedAddressKind(embedded);
  }
  return null;
}

/** The IPv4 address inside a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address, if it is one. */
function embeddedIPv4(address: string): string | null {
  const groups = ipv6Groups(address);
  if (!groups) return null;
  const nat64 = groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0);
  const at = nat64 ? 6 : groups[0] === 0x2002 ? 1 : undefined;
  if (at === undefined) return null;
  const [high, low] = [groups[at]!, groups[at + 1]!];
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/** The eight 16-bit groups of an IPv6 address that `isIPv6` accepted. */
function ipv6Groups(address: string): number[] | null {
  if (!isIPv6(address)) return null;
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (isIPv4(tail)) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  const groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 ? groups : null;
}

/** The URL's host without IPv6 brackets or a trailing dot, and whether it is an IP literal. */
export function webhookHost(url: URL): { host: string; ip: boolean } {
  let host = url.hostname.toLowerCase();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.endsWith('.')) host = host.slice(0, -1);
  return { host, ip: isIP(host) !== 0 };
}

const isLocalhostName = (host: string) => host === 'localhost' || host.endsWith('.localhost');

/** Whether the policy lets a webhook go to an address of this kind. */
export const addressAllowed = (kind: RefusedAddressKind | null, policy: WebhookUrlPolicy): boolean =>
  kind === null || (kind === 'loopback' && policy.allowLoopback);

/** "a loopback address", "an unspecified address". */
export const describeKind = (kind: RefusedAddressKind | null): string =>
  `${/^[aeiou]/.test(kind ?? '') ? 'an' : 'a'} ${kind} address`;

const invalid = (message: string, field: string) =>
  new MilletError('WEBHOOK_URL_INVALID', message, { field });

/**
 * Where webhooks may go: https to a public host. Refused: IP literals in loopback, private
 * (RFC 1918), link-local (169.254.169.254), unspecified, CGNAT, unique-local, multicast or reserved
 * ranges (IPv4-mapped forms included; the URL parser already reads 2130706433, 0x7f000001 and
 * 127.1 as 127.0.0.1), and the names `localhost` and `*.localhost`. With `allowLoopback`, this
 * machine's loopback is allowed, over plain http too. No credentials in the URL, at most 2,000
 * characters. A name is only a name here: the addresses it resolves to are checked at each
 * attempt, and the connection goes to the address checked (`delivery-target.ts`). Other modules
 * check through a webhooks instance (`Webhooks.checkUrl`), so each app applies its own policy.
 */
export function checkWebhookUrl(url: string, field: string, policy: WebhookUrlPolicy): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('The webhook URL is not a valid absolute URL', field);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw invalid('The webhook URL must use https', field);
  if (parsed.username || parsed.password || url.length > 2000)
    throw invalid('The webhook URL must not carry credentials or exceed 2,000 characters', field);
  const { host, ip } = webhookHost(parsed);
  const kind = ip ? refusedAddressKind(host) : isLocalhostName(host) ? 'loopback' : null;
  if (!addressAllowed(kind, policy))
    throw invalid(
      ip
        ? `The webhook URL must name a public host, not ${describeKind(kind)} (${host})`
        : `The webhook URL must name a public host, not ${host}`,
      field,
    );
  if (parsed.protocol === 'http:' && kind !== 'loopback')
    throw invalid(
      policy.allowLoopback
        ? 'The webhook URL must use https (plain http only to this machine, for development)'
        : 'The webhook URL must use https',
      field,
    );
  return parsed.toString();
}
