import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiMigrations, buildServer, createLogger, ensureBootstrapKey } from '../src/api/index.ts';
import { ManualClock } from '../src/core/index.ts';
import { createLedger, ledgerMigrations, type Ledger } from '../src/ledger/index.ts';
import { createWebhooks, verifyWebhook, webhooksMigrations, type Webhooks } from '../src/webhooks/index.ts';
import type { JsonObject } from './support/api-harness.ts';
import { openTestDatabase, type TestDatabase } from './support/test-database.ts';
import { startReceiver, type Receiver } from './support/webhook-receiver.ts';

let t: TestDatabase;
let ledger: Ledger;
let webhooks: Webhooks;
let app: FastifyInstance;
let receiver: Receiver;
let adminKey: string;
let secret = '';
let failing = false;
const clock = new ManualClock('2026-03-01T04:00:00Z');

beforeAll(async () => {
  t = await openTestDatabase([...ledgerMigrations, ...apiMigrations, ...webhooksMigrations]);
  ledger = createLedger({ db: t.db, clock });
  webhooks = createWebhooks({ db: t.db, clock, encryptionKey: randomBytes(32), allowLoopback: true });
  app = buildServer({ db: t.db, ledger, clock, webhooks, logger: createLogger({ level: 'silent' }) });
  await app.ready();
  adminKey = (await ensureBootstrapKey(t.db, clock))!.plaintext;
  receiver = await startReceiver((request) => {
    if (failing) return { status: 500, body: 'down' };
    try {
      verifyWebhook(secret, request.headers, request.body, { now: clock.now() });
      return { status: 200, body: 'ok' };
    } catch (error) {
      return { status: 400, body: (error as Error).message };
    }
  });
});
afterAll(async () => {
  await webhooks.close();
  await receiver.close();
  await app.close();
  await ledger.close();
  await t.close();
});

async function call(
  method: 'GET' | 'POST',
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await app.inject({
    method,
    url,
    payload: body as never,
    headers: {
      authorization: `Bearer ${adminKey}`,
      ...(method === 'POST' ? { 'idempotency-key': randomUUID() } : {}),
      ...headers,
    },
  });
  return { status: response.statusCode, json: response.json<JsonObject>() };
}

const base = '/v1/operator/webhooks';

describe('operator webhook routes', () => {
  it('need an operator key with the webhooks:admin scope', async () => {
    expect((await app.inject({ method: 'GET', url: `${base}/endpoints` })).statusCode).toBe(401);
    const reader = await call('POST', '/v1/operator/api-keys', { name: 'reader', scopes: ['ledger:read'] });
    const denied = await call('GET', `${base}/endpoints`, undefined, {
      authorization: `Bearer ${reader.json.key}`,
    });
    expect(denied.status).toBe(403);
    expect(denied.json.code).toBe('FORBIDDEN_SCOPE');
  });

  it('create an endpoint (secret shown once), send an event, list and inspect deliveries, redeliver', async () => {
    const idempotencyKey = randomUUID();
    const body = { owner_id: 'merchant-a', url: receiver.url, event_types: ['payment.succeeded'] };
    const created = await call('POST', `${base}/endpoints`, body, { 'idempotency-key': idempotencyKey });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      owner_id: 'merchant-a',
      enabled: true,
      event_types: ['payment.succeeded'],
    });
    secret = created.json.secret as string;
    expect(secret).toMatch(/^whsec_/);
    const replay = await call('POST', `${base}/endpoints`, body, { 'idempotency-key': idempotencyKey });
    expect(replay.json).toMatchObject({ id: created.json.id, secret: null });

    const list = await call('GET', `${base}/endpoints?owner_id=merchant-a`);
    expect(list.json.items.map((e: JsonObject) => e.id)).toEqual([created.json.id]);
    expect(JSON.stringify(list.json)).not.toContain('whsec_');

    const sent = await call('POST', `${base}/events`, {
      owner_id: 'merchant-a',
      event_type: 'payment.succeeded',
      payload: { payment_id: 'p-1', amount: '12345' },
    });
    expect(sent.status).toBe(202);
    const deliveryId = sent.json.items[0].id as string;
    await webhooks.close();
    expect(receiver.received).toHaveLength(1);

    const delivery = await call('GET', `${base}/deliveries/${deliveryId}`);
    expect(delivery.json).toMatchObject({ status: 'succeeded', attempts: 1, last_status_code: 200 });
    expect(delivery.json.attempt_log).toMatchObject([
      { attempt: 1, outcome: 'succeeded', response_body: 'ok' },
    ]);
    const listed = await call('GET', `${base}/deliveries?owner_id=merchant-a&status=succeeded`);
    expect(listed.json.items.map((d: JsonObject) => d.id)).toEqual([deliveryId]);

    failing = true;
    const again = await call('POST', `${base}/deliveries/${deliveryId}/redeliver`);
    expect(again.status).toBe(200);
    expect(again.json.attempt).toMatchObject({
      attempt: 2,
      trigger: 'redeliver',
      outcome: 'failed',
      status_code: 500,
    });
    // Attempt 1 delivered it: a failed redeliver does not undo the delivery.
    expect(again.json.delivery).toMatchObject({ status: 'succeeded', attempts: 2, next_attempt_at: null });
    failing = false;
    await call('POST', `${base}/deliveries/${deliveryId}/redeliver`);
    const attempts = await call('GET', `${base}/deliveries/${deliveryId}/attempts`);
    expect(attempts.json.items.map((a: JsonObject) => [a.attempt, a.status_code])).toEqual([
      [1, 200],
      [2, 500],
      [3, 200],
    ]);

    const disabled = await call('POST', `${base}/endpoints/${created.json.id}/disable`);
    expect(disabled.json.enabled).toBe(false);
    const none = await call('POST', `${base}/events`, {
      owner_id: 'merchant-a',
      event_type: 'payment.succeeded',
      payload: {},
    });
    expect(none.json.items).toEqual([]);
  });

  it('rotate an owner signing secret for notify URLs', async () => {
    const missing = await call('POST', `${base}/events`, {
      owner_id: 'merchant-b',
      event_type: 'payment.succeeded',
      payload: {},
      url: receiver.url,
    });
    expect(missing.status).toBe(409);
    expect(missing.json.code).toBe('WEBHOOK_SIGNING_SECRET_MISSING');
    const rotated = await call('POST', `${base}/owners/merchant-b/signing-secret`);
    expect(rotated.status).toBe(201);
    secret = rotated.json.secret as string;
    const sent = await call('POST', `${base}/events`, {
      owner_id: 'merchant-b',
      event_type: 'payment.succeeded',
      payload: {},
      url: receiver.url,
    });
    await webhooks.close();
    expect((await call('GET', `${base}/deliveries/${sent.json.items[0].id}`)).json.status).toBe('succeeded');
  });

  it('answer problems with stable codes', async () => {
    const insecure = await call('POST', `${base}/endpoints`, {
      owner_id: 'm',
      url: 'http://example.com/hook',
    });
    expect(insecure.status).toBe(422);
    expect(insecure.json.code).toBe('WEBHOOK_URL_INVALID');
    // Loopback is allowed here (a test), private and link-local addresses never.
    for (const url of [
      'https://169.254.169.254/latest/meta-data/',
      'https://10.0.0.5/',
      'https://[fd00::1]/',
    ]) {
      const internal = await call('POST', `${base}/endpoints`, { owner_id: 'm', url });
      expect(internal.status, url).toBe(422);
      expect(internal.json.code, url).toBe('WEBHOOK_URL_INVALID');
    }
    // An owner has at most 20 enabled endpoints: each one is a copy of every event.
    for (let i = 0; i < 20; i++)
      expect(
        (await call('POST', `${base}/endpoints`, { owner_id: 'capped', url: receiver.url })).status,
      ).toBe(201);
    const over = await call('POST', `${base}/endpoints`, { owner_id: 'capped', url: receiver.url });
    expect(over.status).toBe(409);
    expect(over.json).toMatchObject({ code: 'WEBHOOK_ENDPOINT_LIMIT_EXCEEDED', limit: 20 });
    const unknown = await call('GET', `${base}/deliveries/${randomUUID()}`);
    expect(unknown.status).toBe(404);
    expect(unknown.json.code).toBe('WEBHOOK_DELIVERY_NOT_FOUND');
    expect((await call('POST', `${base}/endpoints/not-a-uuid/disable`)).json.code).toBe(
      'WEBHOOK_ENDPOINT_NOT_FOUND',
    );
    // An endpoint id that cannot exist was answered with an empty page, hiding the caller's typo.
    const typo = await call('GET', `${base}/deliveries?endpoint_id=not-a-uuid`);
    expect(typo.status).toBe(400);
    expect(typo.json).toMatchObject({ code: 'VALIDATION_FAILED', field: 'endpoint_id' });
    const none = await call('GET', `${base}/deliveries?endpoint_id=${randomUUID()}`);
    expect(none.status).toBe(200);
    expect(none.json.items).toEqual([]);
    const openapi = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(Object.keys(openapi.json<JsonObject>().paths)).toContain(
      '/v1/operator/webhooks/deliveries/{id}/redeliver',
    );
  });
});
