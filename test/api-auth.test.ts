import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomUUID } from 'node:crypto';
import { ensureBootstrapKey, operatorScopes } from '../src/api/index.ts';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';

let h: ApiHarness;

beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});

async function createKey(scopes: string[], name = 'test key'): Promise<JsonObject> {
  const response = await h.post('/v1/operator/api-keys', { name, scopes });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

describe('operator API keys', () => {
  it('refuses requests without a valid bearer key with 401', async () => {
    const none = await h.get('/v1/ledger/accounts', '');
    expect(none.statusCode).toBe(401);
    expect(none.json().code).toBe('UNAUTHENTICATED');
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await h.get('/v1/ledger/accounts', 'mlt_op_' + 'x'.repeat(32))).json().code).toBe(
      'UNAUTHENTICATED',
    );
    expect((await h.get('/v1/ledger/accounts', 'garbage')).statusCode).toBe(401);
    const basic = await h.request({
      method: 'GET',
      url: '/v1/ledger/accounts',
      headers: { authorization: 'Basic dXNlcjpwYXNz' },
    });
    expect(basic.statusCode).toBe(401);
    // Auth comes before the Idempotency-Key check.
    expect((await h.post('/v1/ledger/accounts', {}, { key: null, idempotencyKey: null })).statusCode).toBe(
      401,
    );
  });

  it('shows a new key once, lists keys without secrets, and enforces scopes', async () => {
    const created = await createKey(['ledger:read'], 'read-only dashboard');
    expect(created.key).toMatch(/^mlt_op_[A-Za-z0-9]{32}$/);
    expect(created).toMatchObject({
      name: 'read-only dashboard',
      scopes: ['ledger:read'],
      revoked_at: null,
      last4: created.key.slice(-4),
    });
    expect(created.display).toBe(`${created.key.slice(0, 11)}…${created.key.slice(-4)}`);

    const list = await h.get('/v1/operator/api-keys?limit=500');
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(created.key);
    const listed = list.json().items.find((k: { id: string }) => k.id === created.id);
    expect(listed).toMatchObject({
      name: 'read-only dashboard',
      prefix: created.prefix,
      last4: created.last4,
    });
    expect(listed).not.toHaveProperty('key');

    expect((await h.get('/v1/ledger/accounts', created.key)).statusCode).toBe(200);
    const write = await h.post(
      '/v1/ledger/accounts',
      { currency: 'CNY', code: 'x', bound: { kind: 'unbounded' } },
      { key: created.key },
    );
    expect(write.statusCode).toBe(403);
    expect(write.json()).toMatchObject({ code: 'FORBIDDEN_SCOPE', required_scope: 'ledger:write' });
    expect((await h.get('/v1/operator/api-keys', created.key)).json().code).toBe('FORBIDDEN_SCOPE');

    const writer = await createKey(['ledger:write']);
    expect(
      (
        await h.post(
          '/v1/ledger/accounts',
          { currency: 'CNY', code: 'x', bound: { kind: 'unbounded' } },
          { key: writer.key },
        )
      ).statusCode,
    ).toBe(201);
    expect((await h.get('/v1/ledger/accounts', writer.key)).statusCode).toBe(403);
  });

  it('refuses unknown scopes and empty names', async () => {
    const bad = await h.post('/v1/operator/api-keys', { name: 'x', scopes: ['ledger:everything'] });
    expect(bad.json().code).toBe('VALIDATION_FAILED');
    expect((await h.post('/v1/operator/api-keys', { name: '  ', scopes: ['ledger:read'] })).json().code).toBe(
      'VALIDATION_FAILED',
    );
    expect((await h.post('/v1/operator/api-keys', { name: 'x', scopes: [] })).json().code).toBe(
      'VALIDATION_FAILED',
    );
  });

  it('stops a revoked key at once; revoking twice is harmless', async () => {
    const created = await createKey(['ledger:read']);
    expect((await h.get('/v1/ledger/accounts', created.key)).statusCode).toBe(200);
    const revoked = await h.post(`/v1/operator/api-keys/${created.id}/revoke`);
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json().revoked_at).not.toBeNull();
    expect((await h.get('/v1/ledger/accounts', created.key)).statusCode).toBe(401);
    const again = await h.post(`/v1/operator/api-keys/${created.id}/revoke`);
    expect(again.json().revoked_at).toBe(revoked.json().revoked_at);
    const missing = await h.post(`/v1/operator/api-keys/${randomUUID()}/revoke`);
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('API_KEY_NOT_FOUND');
  });

  it('stores only hashes: neither the keys table nor the idempotency records hold a plaintext', async () => {
    const idempotencyKey = randomUUID();
    const created = await h.post(
      '/v1/operator/api-keys',
      { name: 'hashed', scopes: ['ledger:read'] },
      { idempotencyKey },
    );
    const plaintext = created.json().key as string;
    const keys = await h.t.db.query('SELECT * FROM api_operator_keys');
    const records = await h.t.db.query('SELECT * FROM api_idempotency_keys');
    const everything = JSON.stringify([...keys.rows, ...records.rows]);
    expect(everything).not.toContain(plaintext);
    expect(everything).not.toContain(h.adminKey);
    expect(everything).toContain(createHash('sha256').update(plaintext).digest('hex'));
    // A replayed creation shows the key's record but not the secret again.
    const replay = await h.post(
      '/v1/operator/api-keys',
      { name: 'hashed', scopes: ['ledger:read'] },
      { idempotencyKey },
    );
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toMatchObject({ id: created.json().id, key: null });
  });

  it('pages through keys with a cursor', async () => {
    for (let i = 0; i < 3; i++) await createKey(['ledger:read'], `page ${i}`);
    const seen = new Set<string>();
    let cursor: string | null = null;
    do {
      const page: JsonObject = (
        await h.get(`/v1/operator/api-keys?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      ).json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      for (const k of page.items) seen.add(k.id);
      cursor = page.next_cursor;
    } while (cursor);
    const total = await h.t.db.query('SELECT id FROM api_operator_keys');
    expect(seen.size).toBe(total.rows.length);
  });

  it('creates a bootstrap key only while no active admin key exists', async () => {
    expect(await ensureBootstrapKey(h.t.db, h.clock)).toBeUndefined();
    const admins = await h.t.db.query<{ id: string }>(
      `SELECT id FROM api_operator_keys WHERE scopes ? 'operators:admin' AND revoked_at IS NULL`,
    );
    const spareAdmin = await createKey(['operators:admin'], 'spare admin');
    for (const { id } of admins.rows)
      await h.post(`/v1/operator/api-keys/${id}/revoke`, undefined, { key: spareAdmin.key });
    expect((await h.get('/v1/ledger/accounts')).statusCode).toBe(401);
    expect(await ensureBootstrapKey(h.t.db, h.clock)).toBeUndefined();
    await h.post(`/v1/operator/api-keys/${spareAdmin.id}/revoke`, undefined, { key: spareAdmin.key });
    const fresh = await ensureBootstrapKey(h.t.db, h.clock);
    expect(fresh?.key.scopes).toEqual([...operatorScopes].sort());
    expect((await h.get('/v1/ledger/accounts', fresh!.plaintext)).statusCode).toBe(200);
  });
});
