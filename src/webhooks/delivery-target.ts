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
  const refused = refusedResolution(host, addresses, policy);
  if (refused) return { ok: false, reason: refused };
  return { ok: true, host, addresses };
}

/**
 * Why `host` may not be connected to, given what it resolves to, or null when it may: one refused
 * address refuses the name (a connection could otherwise land on it when another fails).
 */
export function refusedResolution(
  host: string,
  addresses: readonly LookupAddress[],
  policy: WebhookUrlPolicy,
): string | null {
  for (const { address } of addresses) {
    const kind = refusedAddressKind(address);
    if (!addressAllowed(kind, policy))
      return `refused: ${host} resolves to ${address}, ${describeKind(kind)}`;
  }
  return null;
}

/** A connection refused by {@link policyLookup}: the name resolves to an address the policy refuses. */
export class AddressRefusedError extends Error {
  readonly code = 'ERR_MILLET_ADDRESS_REFUSED';

  constructor(message: string) {
    super(message);
    this.name = 'AddressRefusedError';
  }
}

/**
 * The {@link AddressRefusedError} behind a failed request, or null: undici hands it on as it is
 * (dispatch) or as the `cause` of its own error (fetch's "fetch failed").
 */
export function addressRefusal(error: unknown): AddressRefusedError | null {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++)
    if (e instanceof AddressRefusedError) return e;
  return null;
}

/**
 * A `lookup` for outbound connections (undici's `connect.lookup`, net.connect's `lookup`) under
 * `policy`: it resolves the name at connect time and fails the connection with an
 * {@link AddressRefusedError} when any address is one the policy refuses, otherwise answers with
 * the addresses it checked ({@link pinnedLookup}). So a name checked when it was given cannot be
 * pointed at this machine or the private network later (DNS rebinding): every new connection is
 * checked, and goes where the check looked. Node does not call `lookup` for an IP literal: check
 * the URL itself too ({@link checkWebhookUrl}).
 */
export function policyLookup(
  policy: WebhookUrlPolicy,
  resolveHost: ResolveHost = resolveWithDns,
): LookupFunction {
  return (hostname, options, callback) => {
    const fail = (error: NodeJS.ErrnoException) => callback(error, '', 0);
    const host = hostname.toLowerCase().replace(/\.$/, '');
    const resolved: Promise<LookupAddress[]> =
      isIP(host) !== 0 ? Promise.resolve([{ address: host, family: isIP(host) }]) : resolveHost(host);
    resolved.then(
      (addresses) => {
        if (addresses.length === 0) {
          const error: NodeJS.ErrnoException = new Error(`DNS lookup of ${host} found no address`);
          error.code = 'ENOTFOUND';
          return fail(error);
        }
        const refused = refusedResolution(host, addresses, policy);
        if (refused) return fail(new AddressRefusedError(refused));
        pinnedLookup(addresses)(hostname, options, callback);
      },
      (error: unknown) => fail(error instanceof Error ? error : new Error(String(error))),
    );
  };
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
