import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret, signWebhook, verifyWebhook, WebhookVerificationError } from './signature.ts';

const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const timestamp = 1614265330;
const now = new Date(timestamp * 1000);
const body = '{"test": 2432232314}';

function headersFor(signature: string, msgId = id, ts = String(timestamp)) {
  return { 'webhook-id': msgId, 'webhook-timestamp': ts, 'webhook-signature': signature };
}

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookVerificationError);
    return (error as WebhookVerificationError).reason;
  }
  return 'verified';
}

describe('Standard Webhooks signatures', () => {
  it('matches an HMAC computed independently, and the published Standard Webhooks test vector', () => {
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
    expect(signWebhook(secret, id, timestamp, body)).toBe(`v1,${expected}`);
    // From the Standard Webhooks / Svix reference libraries' tests.
    expect(signWebhook(secret, id, timestamp, body)).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('verifies its own signature from Node headers, fetch Headers, a string or bytes', () => {
    const signature = signWebhook(secret, id, timestamp, body);
    expect(verifyWebhook(secret, headersFor(signature), body, { now })).toEqual({ id, timestamp: now });
    expect(verifyWebhook(secret, new Headers(headersFor(signature)), Buffer.from(body), { now }).id).toBe(id);
    expect(
      verifyWebhook(
        secret,
        { 'Webhook-Id': id, 'Webhook-Timestamp': String(timestamp), 'Webhook-Signature': signature },
        body,
        { now },
      ).id,
    ).toBe(id);
  });

  it('fails when any single byte of the body, the id, the timestamp or the signature changes', () => {
    const bytes = Buffer.from('{"type":"payment.succeeded","data":{"amount":"12345","ok":true}}');
    const signature = signWebhook(secret, id, timestamp, bytes);
    expect(reason(() => verifyWebhook(secret, headersFor(signature), bytes, { now }))).toBe('verified');
    for (let i = 0; i < bytes.length; i++) {
      const changed = Buffer.from(bytes);
      changed[i] = changed[i]! ^ 0x01;
      expect(
        reason(() => verifyWebhook(secret, headersFor(signature), changed, { now })),
        `body byte ${i}`,
      ).not.toBe('verified');
    }
    const flip = (text: string, i: number) =>
      text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ 0x01) + text.slice(i + 1);
    for (let i = 0; i < id.length; i++)
      expect(
        reason(() => verifyWebhook(secret, headersFor(signature, flip(id, i)), bytes, { now })),
        `id ${i}`,
      ).toBe('no_matching_signature');
    const ts = String(timestamp);
    for (let i = 0; i < ts.length; i++)
      expect(
        reason(() => verifyWebhook(secret, headersFor(signature, id, flip(ts, i)), bytes, { now })),
        `timestamp ${i}`,
      ).not.toBe('verified');
    for (let i = 0; i < signature.length; i++)
      expect(
        reason(() => verifyWebhook(secret, headersFor(flip(signature, i)), bytes, { now })),
        `signature ${i}`,
      ).toBe('no_matching_signature');
    // A signature under another secret does not verify either.
    expect(reason(() => verifyWebhook(generateWebhookSecret(), headersFor(signature), bytes, { now }))).toBe(
      'no_matching_signature',
    );
  });

  it('accepts any one of several space-separated signatures (key rotation) and ignores other versions', () => {
    const other = generateWebhookSecret();
    const both = `${signWebhook(other, id, timestamp, body)} ${signWebhook(secret, id, timestamp, body)}`;
    expect(reason(() => verifyWebhook(secret, headersFor(both), body, { now }))).toBe('verified');
    expect(reason(() => verifyWebhook(other, headersFor(both), body, { now }))).toBe('verified');
    const v2 = signWebhook(secret, id, timestamp, body).replace('v1,', 'v2,');
    expect(reason(() => verifyWebhook(secret, headersFor(v2), body, { now }))).toBe('no_matching_signature');
  });

  it('refuses timestamps outside the tolerance, either way', () => {
    const signature = signWebhook(secret, id, timestamp, body);
    const at = (seconds: number, toleranceSeconds?: number) =>
      reason(() =>
        verifyWebhook(secret, headersFor(signature), body, {
          now: new Date((timestamp + seconds) * 1000),
          toleranceSeconds,
        }),
      );
    expect(at(300)).toBe('verified');
    expect(at(-300)).toBe('verified');
    expect(at(301)).toBe('timestamp_too_old');
    expect(at(-301)).toBe('timestamp_too_new');
    expect(at(31, 30)).toBe('timestamp_too_old');
    expect(
      reason(() => verifyWebhook(secret, headersFor(signature, id, '1614265330.0'), body, { now })),
    ).toBe('invalid_timestamp');
    expect(reason(() => verifyWebhook(secret, headersFor(signature, id, '01614265330'), body, { now }))).toBe(
      'invalid_timestamp',
    );
  });

  it('refuses to check with a tolerance or a clock that is not a number, rather than accept any age', () => {
    const signature = signWebhook(secret, id, timestamp, body);
    const dayLater = new Date((timestamp + 86_400) * 1000);
    for (const options of [
      { now: dayLater, toleranceSeconds: Number(undefined) },
      { now: dayLater, toleranceSeconds: -1 },
      { now: new Date('not a date') },
    ])
      expect(() => verifyWebhook(secret, headersFor(signature), body, options)).toThrow(RangeError);
    expect(reason(() => verifyWebhook(secret, headersFor(signature), body, { now: dayLater }))).toBe(
      'timestamp_too_old',
    );
  });

  it('names what is missing or malformed', () => {
    expect(reason(() => verifyWebhook(secret, { 'webhook-id': id }, body, { now }))).toBe('missing_header');
    const signature = signWebhook(secret, id, timestamp, body);
    expect(
      reason(() => verifyWebhook('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', headersFor(signature), body, { now })),
    ).toBe('invalid_secret');
    expect(generateWebhookSecret()).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  });

  it('can be copied by a merchant: it imports nothing but node:crypto', () => {
    const source = fs.readFileSync(new URL('./signature.ts', import.meta.url), 'utf8');
    const imports = [...source.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    expect(imports).toEqual(['node:crypto']);
  });
});
