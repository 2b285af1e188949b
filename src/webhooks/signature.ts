/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com, the scheme Svix uses).
 *
 * A webhook carries three headers:
 *
 *   webhook-id:        msg_…                     the message id; the same on every retry, dedupe on it
 *   webhook-timestamp: 1717200000                unix seconds of this attempt
 *   webhook-signature: v1,<base64 signature>     space-separated when several secrets sign it
 *
 * where the signature is base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{raw body}")) and
 * the key is the base64-decoded part of the secret after its `whsec_` prefix.
 *
 * This file imports nothing but node:crypto so a merchant can copy it into their own service and
 * call `verifyWebhook` on the raw request body (the exact bytes received, before any JSON parsing).
 */
import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';

/** Why a webhook was refused; `reason` is stable, the message is for people. */
export class WebhookVerificationError extends Error {
  readonly reason:
    | 'invalid_secret'
    | 'missing_header'
    | 'invalid_timestamp'
    | 'timestamp_too_old'
    | 'timestamp_too_new'
    | 'no_matching_signature';

  constructor(reason: WebhookVerificationError['reason'], message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
    this.reason = reason;
  }
}

/** Headers as Node's `req.headers` gives them, or a fetch `Headers` object. */
export type WebhookHeaders =
  { get(name: string): string | null } | Record<string, string | readonly string[] | undefined>;

export interface VerifyOptions {
  /**
   * How far the timestamp may be from `now`, either way (default 300 s). NaN or a negative number
   * throws a RangeError, as does an invalid `now`.
   */
  toleranceSeconds?: number;
  /** The current time (default: the system clock). */
  now?: Date;
}

/** A new secret: `whsec_` and 32 random bytes in base64. */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

function secretKey(secret: string | KeyObject): Buffer | KeyObject {
  if (typeof secret !== 'string') return secret;
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : '';
  const key = Buffer.from(encoded, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || key.length < 16)
    throw new WebhookVerificationError('invalid_secret', 'The secret must be "whsec_" and base64');
  return key;
}

/**
 * The secret decoded once into a key, for a sender or receiver that signs or checks many messages
 * under it: `signWebhook` and `verifyWebhook` take it in place of the secret text.
 */
export function webhookSigningKey(secret: string): KeyObject {
  return createSecretKey(secretKey(secret) as Buffer);
}

/** The `v1,<base64>` signature of one message under one secret (its text or its decoded key). */
export function signWebhook(
  secret: string | KeyObject,
  id: string,
  timestamp: number,
  body: string | Uint8Array,
): string {
  const digest = createHmac('sha256', secretKey(secret))
    .update(`${id}.${timestamp}.`, 'utf8')
    .update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body)
    .digest('base64');
  return `v1,${digest}`;
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof headers.get === 'function')
    return (headers.get as (n: string) => string | null)(name) ?? undefined;
  const record = headers as Record<string, string | readonly string[] | undefined>;
  const value =
    record[name] ?? Object.entries(record).find(([key]) => key.toLowerCase() === name)?.[1] ?? undefined;
  return Array.isArray(value) ? value[0] : (value as string | undefined);
}

/**
 * Checks a webhook and returns its id and timestamp, or throws a {@link WebhookVerificationError}.
 * `body` must be the raw body exactly as received. The signature is compared in constant time;
 * a timestamp more than `toleranceSeconds` from now (past or future) is refused, which stops a
 * captured request from being replayed later. Keep the ids you handled to drop duplicates: a
 * delivery can arrive more than once.
 */
export function verifyWebhook(
  secret: string | KeyObject,
  headers: WebhookHeaders,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): { id: string; timestamp: Date } {
  const id = header(headers, 'webhook-id');
  const timestampText = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestampText || !signatures)
    throw new WebhookVerificationError(
      'missing_header',
      'The webhook-id, webhook-timestamp and webhook-signature headers are all required',
    );
  if (!/^[1-9][0-9]{0,14}$/.test(timestampText))
    throw new WebhookVerificationError('invalid_timestamp', 'webhook-timestamp must be unix seconds');
  const timestamp = Number(timestampText);
  const nowSeconds = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const tolerance = options.toleranceSeconds ?? 300;
  // NaN (an unset setting through Number()) or an invalid date would make both comparisons below
  // false and accept a timestamp of any age: a replay. A setting error, so not a verification one.
  if (!(tolerance >= 0) || !Number.isFinite(nowSeconds))
    throw new RangeError('toleranceSeconds must be a number >= 0 and now a valid date');
  if (timestamp < nowSeconds - tolerance)
    throw new WebhookVerificationError('timestamp_too_old', 'The webhook timestamp is too old');
  if (timestamp > nowSeconds + tolerance)
    throw new WebhookVerificationError('timestamp_too_new', 'The webhook timestamp is in the future');

  const expected = Buffer.from(signWebhook(secret, id, timestamp, body), 'utf8');
  // Compared as text, not decoded bytes: base64 decoding is lenient, the text is exact.
  const matches = signatures
    .split(' ')
    .map((candidate) => Buffer.from(candidate, 'utf8'))
    .some((candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected));
  if (!matches)
    throw new WebhookVerificationError('no_matching_signature', 'No webhook-signature matches the secret');
  return { id, timestamp: new Date(timestamp * 1000) };
}
