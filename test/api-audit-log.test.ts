import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';
import { newMerchant } from './support/merchants.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});

async function entriesOf(actorId: string): Promise<JsonObject[]> {
  const page = await h.get(`/v1/operator/audit-log?actor_id=${actorId}&limit=500`);
  expect(page.statusCode, page.body).toBe(200);
  return page.json().items as JsonObject[];
}

describe('the audit log (DESIGN §2.9)', () => {
  it('records who did what and when for operator actions, retries marked as replays', async () => {
    const created = await h.post('/v1/operator/api-keys', {
      name: 'onboarding desk',
      scopes: ['merchants:admin'],
    });
    const desk = created.json() as { id: string; key: string };
    h.clock.set('2025-06-03T09:30:00Z');
    const idempotencyKey = randomUUID();
    const body = { name: `Tea house ${randomUUID().slice(0, 8)}`, fee_bps: 60 };
    const first = await h.post('/v1/operator/merchants', body, { key: desk.key, idempotencyKey });
    expect(first.statusCode, first.body).toBe(201);
    const retry = await h.post('/v1/operator/merchants', body, { key: desk.key, idempotencyKey });
    expect(retry.headers['idempotent-replayed']).toBe('true');
    const merchantId = first.json().id as string;
    const till = await h.post(
      `/v1/operator/merchants/${merchantId}/api-keys`,
      { name: 'till', scopes: ['payments:read'] },
      { key: desk.key },
    );
    expect(till.statusCode, till.body).toBe(201);
    // Refusals are recorded too: an attempt is part of who did what.
    const refused = await h.post(`/v1/operator/merchants/${merchantId}/api-keys`, {}, { key: desk.key });
    expect(refused.statusCode).toBe(400);
    // Reads are not actions.
    expect((await h.get(`/v1/operator/merchants/${merchantId}`, desk.key)).statusCode).toBe(200);

    const entries = await entriesOf(desk.id);
    expect(entries).toHaveLength(4);
    // Newest first.
    expect(entries[3]).toMatchObject({
      actor_kind: 'operator',
      actor_id: desk.id,
      actor_name: 'onboarding desk',
      method: 'POST',
      route: '/v1/operator/merchants',
      path: '/v1/operator/merchants',
      resource_id: merchantId,
      status: 201,
      replayed: false,
      occurred_at: '2025-06-03T09:30:00.000Z',
      request_id: first.headers['x-request-id'],
    });
    expect(entries[2]).toMatchObject({ resource_id: merchantId, status: 201, replayed: true });
    expect(entries[1]).toMatchObject({
      route: '/v1/operator/merchants/:id/api-keys',
      path: `/v1/operator/merchants/${merchantId}/api-keys`,
      params: { id: merchantId },
      resource_id: till.json().id,
      status: 201,
      replayed: false,
    });
    expect(entries[0]).toMatchObject({ params: { id: merchantId }, resource_id: merchantId, status: 400 });
    // The key's secret is never in the log.
    expect(JSON.stringify(entries)).not.toContain(till.json().key);
    // The log itself needs operators:admin to read.
    const read = await h.get('/v1/operator/audit-log', desk.key);
    expect(read.statusCode).toBe(403);
  });

  it("records merchants' actions under the merchant", async () => {
    const shop = await newMerchant(h, 'Noodles');
    const order = await h.post(
      '/v1/merchant/payment-orders',
      { merchant_reference: randomUUID().slice(0, 20), amount: '1200', description: 'noodles' },
      { key: shop.key },
    );
    expect(order.statusCode, order.body).toBe(201);
    const [entry] = await entriesOf(shop.id);
    expect(entry).toMatchObject({
      actor_kind: 'merchant',
      actor_id: shop.id,
      route: '/v1/merchant/payment-orders',
      resource_id: order.json().id,
      status: 201,
    });
  });

  it('an action that cannot be recorded answers 500 as problem+json, and its retry is recorded', async () => {
    const idempotencyKey = randomUUID();
    const body = { name: 'unrecorded', scopes: ['ledger:read'] };
    await h.t.db.query('ALTER TABLE api_audit_log RENAME TO api_audit_log_away');
    let failed;
    try {
      failed = await h.post('/v1/operator/api-keys', body, { idempotencyKey });
    } finally {
      await h.t.db.query('ALTER TABLE api_audit_log_away RENAME TO api_audit_log');
    }
    expect(failed.statusCode).toBe(500);
    expect(failed.headers['content-type']).toContain('application/problem+json');
    expect(failed.json()).toMatchObject({ code: 'INTERNAL', request_id: failed.headers['x-request-id'] });
    expect(failed.body).not.toContain('api_audit_log');
    const retry = await h.post('/v1/operator/api-keys', body, { idempotencyKey });
    expect(retry.statusCode).toBe(201);
    const [entry] = (await h.get('/v1/operator/audit-log?limit=1')).json().items as JsonObject[];
    expect(entry).toMatchObject({
      route: '/v1/operator/api-keys',
      resource_id: retry.json().id,
      replayed: true,
    });
  });

  it('cannot be changed or deleted, not even by SQL', async () => {
    await h.post('/v1/operator/api-keys', { name: 'x', scopes: ['ledger:read'] });
    const before = (await h.t.db.query<{ n: bigint }>('SELECT count(*)::int8 AS n FROM api_audit_log'))
      .rows[0]!.n;
    expect(before).toBeGreaterThan(0n);
    await expect(h.t.db.query(`UPDATE api_audit_log SET status = 200`)).rejects.toThrow(/append-only/);
    await expect(h.t.db.query(`DELETE FROM api_audit_log`)).rejects.toThrow(/append-only/);
    await expect(h.t.db.query(`TRUNCATE api_audit_log`)).rejects.toThrow(/append-only/);
    const after = (await h.t.db.query<{ n: bigint }>('SELECT count(*)::int8 AS n FROM api_audit_log'))
      .rows[0]!.n;
    expect(after).toBe(before);
  });
});
