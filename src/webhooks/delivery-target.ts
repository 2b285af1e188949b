import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { isMilletError } from '../core/index.ts';
import {
  addressAllowed,
  checkWebhookUrl,
  describeKind,
  refusedAddressKind,
  webhookHost,
  type WebhookUrlPolicy,
} from './url-policy.ts';

/** Every address a host name resolves to (node:dns `lookup` with `all: true`). */
export type ResolveHost = (hostname: string) => Promise<LookupAddress[]>;

export const resolveWithDns: ResolveHost = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** Where one attempt may connect, or why it may not. */
export type DeliveryTarget =
  { ok: true; host: string; addresses: LookupAddress[] } | { ok: false; reason: string };

/**
 * Checks a delivery's URL again at the attempt (it may have been stored under an older policy) and
 * resolves its host: refused when the URL is not allowed, or when any address the name resolves to
 * is one the policy refuses (a public name pointing at 127.0.0.1 or 10.x). The addresses returned
 * are the ones to connect to ({@link pinnedLookup}), so a DNS answer that changes between this
 * check and the connection (rebinding) cannot move the request elsewhere.
 */
export async function checkDeliveryTarget(
  url: string,
  policy: WebhookUrlPolicy,
  resolveHost: ResolveHost,
): Promise<DeliveryTarget> {
  try {
    checkWebhookUrl(url, 'url', policy);
  } catch (error) {
    if (isMilletError(error)) return { ok: false, reason: `refused: ${error.message}` };
    throw error;
  }
  const { host, ip } = webhookHost(new URL(url));
  if (ip) return { ok: true, host, addresses: [{ address: host, family: isIP(host) }] };
  let addresses: LookupAddress[];
  try {
    addresses = await resolveHost(host);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { ok: false, reason: `DNS lookup of ${host} failed: ${String(code ?? error)}`.slice(0, 500) };
  }
  if (addresses.length === 0) return { ok: false, reason: `DNS lookup of ${host} found no address` };
  for (const { address } of addresses) {
    const kind = refusedAddressKind(address);
    if (!addressAllowed(kind, policy))
      return { ok: false, reason: `refused: ${host} resolves to ${address}, ${describeKind(kind)}` };
  }
  return { ok: true, host, addresses };
}

/**
 * A `lookup` for the connection that answers with the checked addresses instead of asking DNS
 * again. Honours `family` and `all` (Node asks for all of them when it races IPv4 and IPv6).
 */
export function pinnedLookup(addresses: readonly LookupAddress[]): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
    const matching = addresses.filter((a) => family === 0 || a.family === family);
    if (matching.length === 0) {
      const error: NodeJS.ErrnoException = new Error(`no checked IPv${family} address for ${hostname}`);
      error.code = 'ENOTFOUND';
      callback(error, '', family);
    } else if (options.all)
      callback(
        null,
        matching.map((a) => ({ ...a })),
      );
    else callback(null, matching[0]!.address, matching[0]!.family);
  };
}
