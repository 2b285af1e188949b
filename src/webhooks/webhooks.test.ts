import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/index.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import { startReceiver, type Receiver, type ReceivedWebhook } from '../../test/support/webhook-receiver.ts';
import { defaultRetryDelaysMs, retryDelayMs } from './retry-schedule.ts';
import { verifyWebhook } from './signature.ts';
import { createWebhooks, webhooksMigrations, type Webhooks, type WebhooksOptions } from './webhooks.ts';
import { claimDeliveries } from './worker.ts';
import { rejection } from '../../test/support/rejection.ts';

let t: TestDatabase;
const clock = new ManualClock('2026-03-01T04:00:00Z');
const encryptionKey = randomBytes(32);
const receivers: Receiver[] = [];
const modules: Webhooks[] = [];
let owner = 0;
const nextOwner = () => `merchant-${++owner}`;

beforeAll(async () => {
  t = await openTestDatabase(webhooksMigrations, { maxConnections: 4 });
});
// Each test counts only its own deliveries: what one leaves pending is retired after it.
afterEach(async () => {
  for (const m of modules) await m.close();
  await t.db.query(
    `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL WHERE status = 'pending'`,
  );
});
afterAll(async () => {
  for (const m of modules) await m.close();
  for (const r of receivers) await r.close();
  await t.close();
});

function webhooks(options: Partial<WebhooksOptions> = {}): Webhooks {
  // The receivers listen on 127.0.0.1: loopback is allowed unless a test says otherwise.
  const m = createWebhooks({
    db: t.db,
    clock,
    encryptionKey,
    random: () => 0.5,
    allowLoopback: true,
    ...options,
  });
  modules.push(m);
  return m;
}

async function receiver(respond: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(respond);
  receivers.push(r);
  return r;
}

const verifies = (secret: string, request: ReceivedWebhook) => {
  try {
    verifyWebhook(secret, request.headers, request.body, { now: clock.now() });
    return true;
  } catch {
    return false;
  }
};

describe('webhook endpoints', () => {
  it('accepts https and local http URLs only', async () => {
    const w = webhooks();
    const ownerId = nextOwner();
    for (const url of [
      'http://example.com/hook',
      'ftp://example.com',
      'not a url',
      'https://u:p@example.com/',
    ])
      expect((await rejection(w.createEndpoint({ ownerId, url }))).code).toBe('WEBHOOK_URL_INVALID');
    for (const url of ['https://example.com/hook', 'http://localhost:8080/x', 'http://127.0.0.1/x'])
      expect((await w.createEndpoint({ ownerId, url })).endpoint.url).toBe(new URL(url).toString());
    // Loopback only when allowed (the embedded demo, tests); internal addresses never.
    const strict = webhooks({ allowLoopback: false });
    for (const [module, url] of [
      [strict, 'http://localhost:6379/'],
      [strict, 'http://2130706433/'],
      [strict, 'https://[::1]/'],
      [strict, 'https://169.254.169.254/latest/meta-data/'],
      [w, 'https://169.254.169.254/latest/meta-data/'],
      [w, 'https://10.0.0.5/'],
      [w, 'https://0.0.0.0/'],
    ] as const)
      expect((await rejection(module.createEndpoint({ ownerId, url }))).code, url).toBe(
        'WEBHOOK_URL_INVALID',
      );
    await strict.rotateOwnerSecret(ownerId);
    const notify = { ownerId, eventType: 'payment.succeeded', payload: {}, url: 'http://127.0.0.1:6379/' };
    expect((await rejection(strict.enqueue(notify))).code).toBe('WEBHOOK_URL_INVALID');
    // What other modules check (a notify_url) is judged by each instance's own policy.
    expect(w.checkUrl('http://127.0.0.1:6379/', 'notify_url')).toBe('http://127.0.0.1:6379/');
    let refused: unknown;
    try {
      strict.checkUrl('http://127.0.0.1:6379/', 'notify_url');
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({ code: 'WEBHOOK_URL_INVALID', details: { field: 'notify_url' } });
  });

  it('caps the enabled endpoints of one owner, adds racing included; disabling one makes room', async () => {
    const w = webhooks({ maxEndpointsPerOwner: 2 });
    const ownerId = nextOwner();
    const url = 'https://example.com/hook';
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => w.createEndpoint({ ownerId, url })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    for (const r of results)
      if (r.status === 'rejected')
        expect(r.reason).toMatchObject({ code: 'WEBHOOK_ENDPOINT_LIMIT_EXCEEDED', details: { limit: 2 } });
    expect((await w.listEndpoints({ ownerId })).items).toHaveLength(2);
    // Another owner has its own room.
    await w.createEndpoint({ ownerId: nextOwner(), url });
    const [first] = (await w.listEndpoints({ ownerId })).items;
    await w.setEndpointEnabled(first!.id, false);
    await w.createEndpoint({ ownerId, url });
    expect((await rejection(w.setEndpointEnabled(first!.id, true))).code).toBe(
      'WEBHOOK_ENDPOINT_LIMIT_EXCEEDED',
    );
    expect((await w.getEndpoint(first!.id)).enabled).toBe(false);
    // Enabling one that is enabled already adds nothing, so it is no error at the cap.
    const [, second] = (await w.listEndpoints({ ownerId })).items;
    expect((await w.setEndpointEnabled(second!.id, true)).enabled).toBe(true);
  });

  it('shows the secret once and keeps it encrypted at rest', async () => {
    const w = webhooks();
    const created = await w.createEndpoint({ ownerId: nextOwner(), url: 'https://example.com/h' });
    expect(created.secret).toMatch(/^whsec_/);
    const stored = await t.db.query<{ secret_ciphertext: string }>(
      'SELECT secret_ciphertext FROM webhook_endpoints WHERE id = $1',
      [created.endpoint.id],
    );
    expect(stored.rows[0]!.secret_ciphertext).toMatch(/^v1\./);
    expect(stored.rows[0]!.secret_ciphertext).not.toContain(created.secret.slice(6, 20));
    expect(JSON.stringify(await w.getEndpoint(created.endpoint.id))).not.toContain('whsec_');
  });

  it('sends an event only to enabled endpoints that take its type', async () => {
    const w = webhooks({ immediate: false });
    const ownerId = nextOwner();
    const payments = await w.createEndpoint({
      ownerId,
      url: 'https://a.example/h',
      eventTypes: ['payment.succeeded'],
    });
    const all = await w.createEndpoint({ ownerId, url: 'https://b.example/h' });
    const off = await w.createEndpoint({ ownerId, url: 'https://c.example/h' });
    await w.setEndpointEnabled(off.endpoint.id, false);
    await w.createEndpoint({ ownerId: nextOwner(), url: 'https://other.example/h' });
    const refund = await w.enqueue({ ownerId, eventType: 'refund.succeeded', payload: {} });
    expect(refund.map((d) => d.endpointId)).toEqual([all.endpoint.id]);
    const payment = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: { a: 1 } });
    expect(payment.map((d) => d.endpointId).sort()).toEqual([payments.endpoint.id, all.endpoint.id].sort());
    expect(new Set(payment.map((d) => d.messageId)).size).toBe(1);
    expect(JSON.parse(payment[0]!.body)).toEqual({
      type: 'payment.succeeded',
      timestamp: clock.now().toISOString(),
      data: { a: 1 },
    });
    // Disabling fails what was waiting for the endpoint.
    await w.setEndpointEnabled(all.endpoint.id, false);
    const after = await w.getDelivery(refund[0]!.id);
    expect(after).toMatchObject({ status: 'failed', lastError: 'endpoint disabled', nextAttemptAt: null });
  });
});

/** A resolver standing in for DNS: the names given, each to its addresses; records every lookup. */
function fakeDns(answers: Record<string, string[]>) {
  const lookups: string[] = [];
  const resolveHost = async (host: string) => {
    lookups.push(host);
    const addresses = answers[host];
    if (!addresses) throw Object.assign(new Error(`no such name ${host}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: isIP(address) }));
  };
  return { lookups, resolveHost };
}

describe('webhook targets at send time', () => {
  it('refuses a name that resolves to loopback or a private address, sending nothing, and records why', async () => {
    const r = await receiver(() => ({ status: 200 }));
    const { port } = new URL(r.url);
    const dns = fakeDns({
      'hooks.merchant.example': ['127.0.0.1'],
      'intranet.merchant.example': ['93.184.216.34', '10.0.0.5'],
      'v6.merchant.example': ['2606:4700:4700::1111', '::1'],
    });
    const w = webhooks({ allowLoopback: false, resolveHost: dns.resolveHost });
    const ownerId = nextOwner();
    for (const host of ['hooks.merchant.example', 'intranet.merchant.example', 'v6.merchant.example'])
      await w.createEndpoint({ ownerId, url: `https://${host}:${port}/hook` });
    const deliveries = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    await w.close();
    expect(r.received).toHaveLength(0);
    const errors = await Promise.all(
      deliveries.map(async (d) => {
        const delivery = await w.getDelivery(d.id);
        const [attempt] = await w.listAttempts(d.id);
        expect(delivery).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: null });
        expect(attempt).toMatchObject({ outcome: 'failed', statusCode: null, error: delivery.lastError });
        return delivery.lastError;
      }),
    );
    expect(errors.sort()).toEqual([
      'refused: hooks.merchant.example resolves to 127.0.0.1, a loopback address',
      'refused: intranet.merchant.example resolves to 10.0.0.5, a private address',
      'refused: v6.merchant.example resolves to ::1, a loopback address',
    ]);
  });

  it('refuses a stored loopback URL once loopback is no longer allowed, without asking DNS', async () => {
    const r = await receiver(() => ({ status: 200 }));
    const ownerId = nextOwner();
    await webhooks().createEndpoint({ ownerId, url: r.url }); // stored while loopback was allowed
    const dns = fakeDns({});
    const w = webhooks({ allowLoopback: false, resolveHost: dns.resolveHost });
    const [delivery] = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    await w.close();
    expect(r.received).toHaveLength(0);
    expect(dns.lookups).toEqual([]);
    expect((await w.getDelivery(delivery!.id)).lastError).toBe(
      'refused: The webhook URL must name a public host, not a loopback address (127.0.0.1)',
    );
  });

  it('stops waiting for a DNS lookup at the attempt deadline', async () => {
    const w = webhooks({ timeoutMs: 100, resolveHost: () => new Promise(() => {}) });
    const ownerId = nextOwner();
    await w.createEndpoint({ ownerId, url: 'https://slow-dns.merchant.example/hook' });
    const [delivery] = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    await w.close();
    expect((await w.getDelivery(delivery!.id)).lastError).toBe('no response within 100 ms');
  });

  it('connects to the address it checked, not to a second DNS answer', async () => {
    const r = await receiver(() => ({ status: 204 }));
    const { port } = new URL(r.url);
    // hooks.localhost is not in the system's resolver here: only the checked address can reach r.
    const dns = fakeDns({ 'hooks.localhost': ['127.0.0.1'], 'db.localhost': ['10.0.0.5'] });
    const w = webhooks({ resolveHost: dns.resolveHost });
    const ownerId = nextOwner();
    await w.createEndpoint({ ownerId, url: `http://hooks.localhost:${port}/hook` });
    const [delivery] = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    await w.close();
    expect(r.received).toHaveLength(1);
    expect(dns.lookups).toEqual(['hooks.localhost']);
    expect((await w.getDelivery(delivery!.id)).status).toBe('succeeded');

    // Loopback allowed or not, a private answer is refused.
    const other = nextOwner();
    await w.createEndpoint({ ownerId: other, url: `http://db.localhost:${port}/hook` });
    const [refused] = await w.enqueue({ ownerId: other, eventType: 'payment.succeeded', payload: {} });
    await w.close();
    expect(r.received).toHaveLength(1);
    expect((await w.getDelivery(refused!.id)).lastError).toBe(
      'refused: db.localhost resolves to 10.0.0.5, a private address',
    );
  });
});

describe('connectLookup', () => {
  /** Calls the lookup as net.connect does, with `all` (Node 20 races IPv4 and IPv6) or a family. */
  const lookUp = (w: Webhooks, host: string, options: { all?: boolean; family?: number } = { all: true }) =>
    new Promise<unknown>((resolve, reject) =>
      w.connectLookup()(host, options, (error, address, family) =>
        error ? reject(error) : resolve(options.all ? address : { address, family }),
      ),
    );

  it("answers with what the name resolves to under the instance's policy, and refuses the rest", async () => {
    const dns = fakeDns({
      'partner.example': ['93.184.216.34', '2606:2800:220:1::1'],
      'rebound.example': ['93.184.216.34', '10.0.0.5'],
      'local.example': ['127.0.0.1'],
    });
    const strict = webhooks({ allowLoopback: false, resolveHost: dns.resolveHost });
    expect(await lookUp(strict, 'partner.example')).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1::1', family: 6 },
    ]);
    expect(await lookUp(strict, 'partner.example', { family: 6 })).toEqual({
      address: '2606:2800:220:1::1',
      family: 6,
    });
    await expect(lookUp(strict, 'rebound.example')).rejects.toMatchObject({
      name: 'AddressRefusedError',
      code: 'ERR_MILLET_ADDRESS_REFUSED',
      message: 'refused: rebound.example resolves to 10.0.0.5, a private address',
    });
    await expect(lookUp(strict, 'local.example')).rejects.toMatchObject({
      message: 'refused: local.example resolves to 127.0.0.1, a loopback address',
    });
    await expect(lookUp(strict, 'nowhere.example')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    // The policy is the instance's: another app in the process that allows loopback takes it.
    const lenient = webhooks({ allowLoopback: true, resolveHost: dns.resolveHost });
    expect(await lookUp(lenient, 'local.example')).toEqual([{ address: '127.0.0.1', family: 4 }]);
    await expect(lookUp(lenient, 'rebound.example')).rejects.toMatchObject({
      code: 'ERR_MILLET_ADDRESS_REFUSED',
    });
  });
});

describe('webhook delivery', () => {
  it('keeps the connection to a host between attempts; another host gets its own', async () => {
    const r = await receiver(() => ({ status: 200 }));
    const { port } = new URL(r.url);
    const dns = fakeDns({ 'a.localhost': ['127.0.0.1'], 'b.localhost': ['127.0.0.1'] });
    const w = webhooks({ immediate: false, resolveHost: dns.resolveHost });
    const ownerId = nextOwner();
    await w.createEndpoint({ ownerId, url: `http://a.localhost:${port}/hook` });
    for (let i = 0; i < 3; i++) {
      await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: { i } });
      expect(await w.deliverDue()).toBe(1);
      // undici frees a connection on the next turn of the event loop after the response (a
      // setImmediate); the in-process database can answer without ever giving it one.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(r.received).toHaveLength(3);
    expect(r.connections).toBe(1);
    const other = nextOwner();
    await w.createEndpoint({ ownerId: other, url: `http://b.localhost:${port}/hook` });
    await w.enqueue({ ownerId: other, eventType: 'payment.succeeded', payload: {} });
    expect(await w.deliverDue()).toBe(1);
    expect(r.received).toHaveLength(4);
    expect(r.connections).toBe(2);
  });

  it('POSTs the signed JSON to a real HTTP server, which verifies it, and logs the attempt', async () => {
    let secret = '';
    const r = await receiver((request) => ({
      status: verifies(secret, request) ? 200 : 400,
      body: 'x'.repeat(10_000),
    }));
    const w = webhooks();
    const ownerId = nextOwner();
    const created = await w.createEndpoint({ ownerId, url: r.url });
    secret = created.secret;
    const [delivery] = await w.enqueue({
      ownerId,
      eventType: 'payment.succeeded',
      payload: { amount: '12345' },
    });
    await w.close();
    expect(r.received).toHaveLength(1);
    const request = r.received[0]!;
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['webhook-id']).toBe(delivery!.messageId);
    expect(request.headers['webhook-timestamp']).toBe(String(clock.now().getTime() / 1000));
    expect(request.body.toString()).toBe(delivery!.body);
    const done = await w.getDelivery(delivery!.id);
    expect(done).toMatchObject({
      status: 'succeeded',
      attempts: 1,
      lastStatusCode: 200,
      nextAttemptAt: null,
    });
    const [attempt] = await w.listAttempts(delivery!.id);
    expect(attempt).toMatchObject({
      attempt: 1,
      trigger: 'scheduled',
      outcome: 'succeeded',
      statusCode: 200,
    });
    expect(attempt!.durationMs).toBeGreaterThanOrEqual(0);
    expect(attempt!.responseBody).toHaveLength(4096);
  });

  it('retries with exponential backoff in business time until the endpoint answers 2xx', async () => {
    const r = await receiver((_request, index) => ({ status: index < 3 ? 500 : 204, body: `try ${index}` }));
    const w = webhooks({ immediate: false });
    const ownerId = nextOwner();
    await w.createEndpoint({ ownerId, url: r.url });
    const [delivery] = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    expect(await w.deliverDue()).toBe(1);
    for (const delay of defaultRetryDelaysMs.slice(0, 3)) {
      const pending = await w.getDelivery(delivery!.id);
      expect(pending.status).toBe('pending');
      expect(pending.nextAttemptAt!.getTime() - clock.now().getTime()).toBe(delay); // random 0.5: no jitter
      clock.advance(delay - 1);
      expect(await w.deliverDue()).toBe(0);
      clock.advance(1);
      expect(await w.deliverDue()).toBe(1);
    }
    const attempts = await w.listAttempts(delivery!.id);
    expect(attempts.map((a) => [a.attempt, a.statusCode, a.outcome])).toEqual([
      [1, 500, 'failed'],
      [2, 500, 'failed'],
      [3, 500, 'failed'],
      [4, 204, 'succeeded'],
    ]);
    expect(attempts[0]!.error).toBe('HTTP 500');
    expect(attempts[0]!.responseBody).toBe('try 0');
    expect((await w.getDelivery(delivery!.id)).status).toBe('succeeded');
    expect(new Set(r.received.map((q) => q.headers['webhook-id'])).size).toBe(1);
  });

  it('jitters each wait within ±20%', () => {
    expect(retryDelayMs(defaultRetryDelaysMs, 1, () => 0)).toBe(4_000);
    expect(retryDelayMs(defaultRetryDelaysMs, 1, () => 1)).toBe(6_000);
    expect(retryDelayMs(defaultRetryDelaysMs, 7, () => 0.5)).toBe(24 * 3_600_000);
    expect(retryDelayMs(defaultRetryDelaysMs, 8, () => 0.5)).toBeUndefined();
  });

  it('gives up after the last attempt, and redeliver makes one more attempt now', async () => {
    let up = false;
    const r = await receiver(() => ({ status: up ? 200 : 503 }));
    const w = webhooks({ immediate: false });
    const ownerId = nextOwner();
    await w.createEndpoint({ ownerId, url: r.url });
    const [delivery] = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    expect(await w.deliverDue()).toBe(1);
    for (const delay of defaultRetryDelaysMs) {
      clock.advance(delay);
      expect(await w.deliverDue()).toBe(1);
    }
    const failed = await w.getDelivery(delivery!.id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 8, maxAttempts: 8, nextAttemptAt: null });
    expect(failed.lastStatusCode).toBe(503);
    clock.advance(7 * 24 * 3_600_000);
    expect(await w.deliverDue()).toBe(0);
    expect(r.received).toHaveLength(8);

    up = true;
    const again = await w.redeliver(delivery!.id);
    expect(again.attempt).toMatchObject({
      attempt: 9,
      trigger: 'redeliver',
      outcome: 'succeeded',
      statusCode: 200,
    });
    expect(again.delivery).toMatchObject({ status: 'succeeded', attempts: 9 });
    // A succeeded delivery can be sent again too (the merchant lost it); a failure then neither
    // retries nor undoes the delivery: the receiver had it (attempt 9 says so in the log).
    up = false;
    const third = await w.redeliver(delivery!.id);
    expect(third.attempt).toMatchObject({ attempt: 10, outcome: 'failed', statusCode: 503 });
    expect(third.delivery).toMatchObject({ status: 'succeeded', attempts: 10, nextAttemptAt: null });
    expect(third.delivery.succeededAt).toEqual(again.delivery.succeededAt);
    clock.advance(7 * 24 * 3_600_000);
    expect(await w.deliverDue()).toBe(0);
    expect((await rejection(w.redeliver('00000000-0000-4000-8000-000000000000'))).code).toBe(
      'WEBHOOK_DELIVERY_NOT_FOUND',
    );
  });

  it('a redeliver of a retrying delivery does not use up its schedule: 8 scheduled attempts still run', async () => {
    const r = await receiver(() => ({ status: 503 }));
    const w = webhooks({ immediate: false });
    const ownerId = nextOwner();
    await w.createEndpoint({ ownerId, url: r.url });
    const [delivery] = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    expect(await w.deliverDue()).toBe(1);
    // A manual retry between scheduled attempts 1 and 2 leaves attempt 2 as due as it was.
    const due = (await w.getDelivery(delivery!.id)).nextAttemptAt;
    const early = await w.redeliver(delivery!.id);
    expect(early.attempt).toMatchObject({ attempt: 2, trigger: 'redeliver', outcome: 'failed' });
    expect(early.delivery).toMatchObject({ status: 'pending', nextAttemptAt: due });
    for (const delay of defaultRetryDelaysMs.slice(0, -1)) {
      clock.advance(delay);
      expect(await w.deliverDue()).toBe(1);
    }
    // Seven scheduled attempts and one manual failed; the merchant retries once more by hand.
    const late = await w.redeliver(delivery!.id);
    expect(late.attempt).toMatchObject({ attempt: 9, trigger: 'redeliver', outcome: 'failed' });
    expect(late.delivery).toMatchObject({ status: 'pending', attempts: 9, maxAttempts: 8 });
    expect(late.delivery.nextAttemptAt!.getTime() - clock.now().getTime()).toBe(defaultRetryDelaysMs.at(-1));
    clock.advance(defaultRetryDelaysMs.at(-1)!);
    expect(await w.deliverDue()).toBe(1);
    const failed = await w.getDelivery(delivery!.id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 10, nextAttemptAt: null });
    const attempts = await w.listAttempts(delivery!.id);
    expect(attempts.filter((a) => a.trigger === 'scheduled')).toHaveLength(8);
    expect(attempts.map((a) => a.outcome)).toEqual(Array(10).fill('failed'));
    clock.advance(7 * 24 * 3_600_000);
    expect(await w.deliverDue()).toBe(0);
    expect(r.received).toHaveLength(10);
  });

  it('never delivers the same attempt twice with two workers running in parallel', async () => {
    const r = await receiver(() => ({ status: 200 }));
    const first = webhooks({ immediate: false, batchSize: 5 });
    const second = webhooks({ immediate: false, batchSize: 5 });
    const ownerId = nextOwner();
    await first.createEndpoint({ ownerId, url: r.url });
    const deliveries = [];
    for (let i = 0; i < 40; i++)
      deliveries.push(...(await first.enqueue({ ownerId, eventType: 'payment.succeeded', payload: { i } })));
    const counts = await Promise.all([
      first.deliverDue(),
      second.deliverDue(),
      first.deliverDue(),
      second.deliverDue(),
    ]);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(40);
    expect(r.received).toHaveLength(40);
    expect(new Set(r.received.map((q) => q.headers['webhook-id'])).size).toBe(40);
    const attempts = await t.db.query<{ n: bigint }>(
      'SELECT count(*)::int8 AS n FROM webhook_attempts WHERE delivery_id = ANY($1::uuid[])',
      [deliveries.map((d) => d.id)],
    );
    expect(attempts.rows[0]!.n).toBe(40n);
  });

  it('does not block the caller on a slow endpoint, and times out an attempt that takes too long', async () => {
    // The endpoint answers after 1.5 s; the caller must be back long before that.
    const r = await receiver(() => ({ status: 200, delayMs: 1_500 }));
    const w = webhooks({ timeoutMs: 4_000 });
    const ownerId = nextOwner();
    await w.createEndpoint({ ownerId, url: r.url });
    const started = performance.now();
    const [delivery] = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect((await w.getDelivery(delivery!.id)).status).toBe('pending');
    await w.close();
    expect((await w.getDelivery(delivery!.id)).status).toBe('succeeded');

    const impatient = webhooks({ timeoutMs: 100, immediate: false });
    const [late] = await impatient.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    expect(await impatient.deliverDue()).toBe(1);
    const [attempt] = await impatient.listAttempts(late!.id);
    expect(attempt).toMatchObject({
      outcome: 'failed',
      statusCode: null,
      error: 'no response within 100 ms',
    });
    expect((await impatient.getDelivery(late!.id)).status).toBe('pending');
  });

  it('does not send a delivery that reached an endpoint after it was disabled; redeliver still does', async () => {
    const r = await receiver(() => ({ status: 200 }));
    const w = webhooks({ immediate: false });
    const ownerId = nextOwner();
    const { endpoint } = await w.createEndpoint({ ownerId, url: r.url });
    const [delivery] = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    // Stands in for the race the outbox allows: a payment's transaction read the endpoint as
    // enabled, the disable (failing what was pending) committed, then the payment's delivery did.
    await t.db.query('UPDATE webhook_endpoints SET enabled = false WHERE id = $1', [endpoint.id]);
    expect(await w.deliverDue()).toBe(1);
    expect(r.received).toHaveLength(0);
    expect(await w.getDelivery(delivery!.id)).toMatchObject({
      status: 'failed',
      attempts: 1,
      lastError: 'endpoint disabled',
      nextAttemptAt: null,
    });
    const again = await w.redeliver(delivery!.id);
    expect(again.attempt).toMatchObject({ trigger: 'redeliver', outcome: 'succeeded' });
    expect(r.received).toHaveLength(1);
  });

  it('resumes after a worker died mid-attempt, once its lease runs out', async () => {
    const r = await receiver(() => ({ status: 200 }));
    const w = webhooks({ immediate: false, leaseMs: 60_000 });
    const ownerId = nextOwner();
    await w.createEndpoint({ ownerId, url: r.url });
    const [delivery] = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    // A worker claims it and "crashes" before sending.
    const now = clock.now();
    await t.db.transaction((tx) =>
      claimDeliveries(
        tx,
        now,
        new Date(now.getTime() + 60_000),
        { ids: [delivery!.id], limit: 1 },
        'scheduled',
      ),
    );
    expect(await w.deliverDue()).toBe(0);
    clock.advance(60_000);
    expect(await w.deliverDue()).toBe(1);
    const attempts = await w.listAttempts(delivery!.id);
    expect(attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'abandoned'],
      [2, 'succeeded'],
    ]);
    expect(r.received).toHaveLength(1);
  });

  it('keeps an attempt still running when redeliver starts another: each logs its own outcome', async () => {
    let firstArrived!: () => void;
    const arrived = new Promise<void>((resolve) => (firstArrived = resolve));
    const r = await receiver((_request, index) => {
      if (index === 0) {
        firstArrived();
        return { status: 200, body: 'first', delayMs: 800 };
      }
      return index === 1 ? { status: 503, body: 'second' } : { status: 204 };
    });
    const w = webhooks();
    const ownerId = nextOwner();
    await w.createEndpoint({ ownerId, url: r.url });
    const [delivery] = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    await arrived;
    const again = await w.redeliver(delivery!.id);
    expect(again.attempt).toMatchObject({ attempt: 2, outcome: 'failed', statusCode: 503 });
    // The first attempt is still waiting for its answer: running, not abandoned.
    expect((await w.listAttempts(delivery!.id))[0]).toMatchObject({ attempt: 1, outcome: null, error: null });
    await w.close();
    const attempts = await w.listAttempts(delivery!.id);
    expect(
      attempts.map((a) => [a.attempt, a.trigger, a.outcome, a.statusCode, a.error, a.responseBody]),
    ).toEqual([
      [1, 'scheduled', 'succeeded', 200, null, 'first'],
      [2, 'redeliver', 'failed', 503, 'HTTP 503', 'second'],
    ]);
    // The first attempt delivered it: the delivery is succeeded although the newer attempt failed
    // before that answer came (before, it followed the newer attempt and retried a delivered message).
    expect(await w.getDelivery(delivery!.id)).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      nextAttemptAt: null,
      lastStatusCode: 200,
      lastError: null,
    });
    clock.advance(defaultRetryDelaysMs[1]!);
    expect(await w.deliverDue()).toBe(0);
    expect(r.received).toHaveLength(2);
  });

  it('a late success of an older attempt while a redeliver runs makes the delivery succeeded; the newer failure does not undo it', async () => {
    let firstArrived!: () => void;
    const arrived = new Promise<void>((resolve) => (firstArrived = resolve));
    const r = await receiver((_request, index) => {
      if (index === 0) {
        firstArrived();
        return { status: 200, body: 'first', delayMs: 500 };
      }
      return { status: 503, body: 'second', delayMs: 1_500 };
    });
    const w = webhooks();
    const ownerId = nextOwner();
    await w.createEndpoint({ ownerId, url: r.url });
    const [delivery] = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    await arrived;
    // The redeliver's attempt is still waiting for its answer when the first one's success comes.
    const again = await w.redeliver(delivery!.id);
    expect(again.attempt).toMatchObject({
      attempt: 2,
      trigger: 'redeliver',
      outcome: 'failed',
      statusCode: 503,
    });
    expect(again.delivery).toMatchObject({ status: 'succeeded', attempts: 2, nextAttemptAt: null });
    await w.close();
    expect(
      (await w.listAttempts(delivery!.id)).map((a) => [a.attempt, a.outcome, a.statusCode, a.responseBody]),
    ).toEqual([
      [1, 'succeeded', 200, 'first'],
      [2, 'failed', 503, 'second'],
    ]);
    expect((await w.listDeliveries({ ownerId, status: 'succeeded' })).items.map((d) => d.id)).toEqual([
      delivery!.id,
    ]);
    clock.advance(24 * 3_600_000);
    expect(await w.deliverDue()).toBe(0);
    expect(r.received).toHaveLength(2);
  });

  it('alerts "failed for good" only for a delivery that failed, not for a failed redeliver of a delivered one', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        callback();
      },
    });
    let up = true;
    const r = await receiver(() => ({ status: up ? 200 : 503 }));
    const w = webhooks({ immediate: false, retryDelaysMs: [], logger: pino({ level: 'info' }, destination) });
    const ownerId = nextOwner();
    await w.createEndpoint({ ownerId, url: r.url });
    const [delivered] = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    expect(await w.deliverDue()).toBe(1);
    up = false;
    const again = await w.redeliver(delivered!.id);
    expect(again.attempt).toMatchObject({ outcome: 'failed' });
    expect(again.delivery.status).toBe('succeeded');
    const alerts = () =>
      lines.filter((l) => l.msg === 'webhook delivery failed for good').map((l) => l.deliveryId);
    expect(alerts()).toEqual([]);
    const [lost] = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    expect(await w.deliverDue()).toBe(1);
    expect((await w.getDelivery(lost!.id)).status).toBe('failed');
    expect(alerts()).toEqual([lost!.id]);
  });

  it('keeps a succeeded delivery succeeded while a redeliver of it runs, and after a worker died in it', async () => {
    const r = await receiver(() => ({ status: 200 }));
    const w = webhooks({ immediate: false, leaseMs: 60_000 });
    const ownerId = nextOwner();
    await w.createEndpoint({ ownerId, url: r.url });
    const [delivery] = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    expect(await w.deliverDue()).toBe(1);
    const delivered = await w.getDelivery(delivery!.id);
    expect(delivered).toMatchObject({ status: 'succeeded', attempts: 1 });
    // An operator's redeliver claims it and its worker dies before sending.
    const now = clock.now();
    await t.db.transaction((tx) =>
      claimDeliveries(
        tx,
        now,
        new Date(now.getTime() + 60_000),
        { ids: [delivery!.id], limit: 1, force: true },
        'redeliver',
      ),
    );
    expect(await w.getDelivery(delivery!.id)).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      nextAttemptAt: null,
      succeededAt: delivered.succeededAt,
    });
    // Nothing is due: the delivered message is not sent again by the job.
    clock.advance(24 * 3_600_000);
    expect(await w.deliverDue()).toBe(0);
    expect(r.received).toHaveLength(1);
    expect((await w.listAttempts(delivery!.id)).map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'succeeded'],
      [2, null],
    ]);
    // The next redeliver takes the dead attempt for abandoned and sends.
    const again = await w.redeliver(delivery!.id);
    expect(again.attempt).toMatchObject({ attempt: 3, outcome: 'succeeded' });
    expect((await w.listAttempts(delivery!.id)).map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'succeeded'],
      [2, 'abandoned'],
      [3, 'succeeded'],
    ]);
    expect(r.received).toHaveLength(2);
  });

  it('redeliver marks abandoned an attempt whose lease ran out, and only that one', async () => {
    const r = await receiver(() => ({ status: 200 }));
    const w = webhooks({ immediate: false, leaseMs: 60_000 });
    const ownerId = nextOwner();
    await w.createEndpoint({ ownerId, url: r.url });
    const [delivery] = await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: {} });
    // A worker claims it and "crashes" before sending.
    const now = clock.now();
    await t.db.transaction((tx) =>
      claimDeliveries(
        tx,
        now,
        new Date(now.getTime() + 60_000),
        { ids: [delivery!.id], limit: 1 },
        'scheduled',
      ),
    );
    clock.advance(60_000);
    const again = await w.redeliver(delivery!.id);
    expect(again.attempt).toMatchObject({ attempt: 2, trigger: 'redeliver', outcome: 'succeeded' });
    expect((await w.listAttempts(delivery!.id)).map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'abandoned'],
      [2, 'succeeded'],
    ]);
    expect(r.received).toHaveLength(1);
  });

  it("signs notify-URL deliveries with the owner's secret, and with both secrets while one rotates", async () => {
    const r = await receiver(() => ({ status: 200 }));
    const w = webhooks();
    const ownerId = nextOwner();
    const event = { ownerId, eventType: 'payment.succeeded', payload: { order: 'o-1' }, url: r.url };
    expect((await rejection(w.enqueue(event))).code).toBe('WEBHOOK_SIGNING_SECRET_MISSING');
    expect((await rejection(w.enqueue({ ...event, url: 'http://example.com/' }))).code).toBe(
      'WEBHOOK_URL_INVALID',
    );
    const { secret: first, previousExpiresAt } = await w.rotateOwnerSecret(ownerId);
    expect(previousExpiresAt).toBeNull();
    const [delivery] = await w.enqueue(event);
    expect(delivery).toMatchObject({ endpointId: null, url: r.url });
    await w.close();
    expect(verifies(first, r.received[0]!)).toBe(true);

    const { secret: second } = await w.rotateOwnerSecret(ownerId);
    await w.enqueue(event);
    await w.close();
    expect(String(r.received[1]!.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifies(first, r.received[1]!)).toBe(true);
    expect(verifies(second, r.received[1]!)).toBe(true);
    clock.advance(24 * 3_600_000 + 1);
    await w.enqueue(event);
    await w.close();
    expect(verifies(first, r.received[2]!)).toBe(false);
    expect(verifies(second, r.received[2]!)).toBe(true);
  });

  it('keeps every replaced owner secret signing until its own expiry, through a second rotation', async () => {
    const r = await receiver(() => ({ status: 200 }));
    const w = webhooks();
    const ownerId = nextOwner();
    const event = { ownerId, eventType: 'payment.succeeded', payload: {}, url: r.url };
    const { secret: first } = await w.rotateOwnerSecret(ownerId);
    clock.advance(3_600_000);
    // Say the answer to this rotation was lost, so the operator rotates again an hour later: the
    // merchant still verifies with the first secret.
    const { secret: lost } = await w.rotateOwnerSecret(ownerId);
    clock.advance(3_600_000);
    const { secret: third } = await w.rotateOwnerSecret(ownerId);
    await w.enqueue(event);
    await w.close();
    for (const secret of [first, lost, third]) expect(verifies(secret, r.received[0]!)).toBe(true);
    // The first was replaced an hour in and signs until 24 h after that; the second, an hour later.
    clock.advance(23 * 3_600_000 + 1);
    await w.enqueue(event);
    await w.close();
    expect([first, lost, third].map((secret) => verifies(secret, r.received[1]!))).toEqual([
      false,
      true,
      true,
    ]);
    clock.advance(3_600_000);
    await w.enqueue(event);
    await w.close();
    expect([first, lost, third].map((secret) => verifies(secret, r.received[2]!))).toEqual([
      false,
      false,
      true,
    ]);
    expect(String(r.received[2]!.headers['webhook-signature']).split(' ')).toHaveLength(1);
  });

  it('writes deliveries inside the caller transaction (the outbox) and lists them newest first', async () => {
    const r = await receiver(() => ({ status: 200 }));
    const w = webhooks();
    const ownerId = nextOwner();
    const endpoint = await w.createEndpoint({ ownerId, url: r.url });
    await rejection(
      t.db.transaction(async (tx) => {
        await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: { n: 0 } }, tx);
        throw new Error('the payment rolled back');
      }),
    );
    const committed = await t.db.transaction((tx) =>
      w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: { n: 1 } }, tx),
    );
    expect((await w.listDeliveries({ ownerId })).items.map((d) => d.id)).toEqual([committed[0]!.id]);
    expect(await w.deliverDue()).toBe(1);
    for (let i = 2; i < 5; i++)
      await w.enqueue({ ownerId, eventType: 'payment.succeeded', payload: { n: i } });
    await w.close();
    const page = await w.listDeliveries({ endpointId: endpoint.endpoint.id, limit: 3 });
    expect(page.items.map((d) => JSON.parse(d.body).data.n)).toEqual([4, 3, 2]);
    const rest = await w.listDeliveries({ endpointId: endpoint.endpoint.id, cursor: page.nextCursor! });
    expect(rest.items.map((d) => JSON.parse(d.body).data.n)).toEqual([1]);
    expect(rest.nextCursor).toBeNull();
    expect((await w.listDeliveries({ ownerId, status: 'succeeded' })).items).toHaveLength(4);
  });
});
