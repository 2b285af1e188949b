import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';
import { newCustomer } from './support/customers.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  vi.restoreAllMocks();
  await h.close();
});

const DAY = 24 * 60 * 60 * 1000;
const list = (query: string, key = h.adminKey) => h.get(`/v1/operator/wallet/bank-operations${query}`, key);

async function keyWith(scopes: string[]): Promise<string> {
  const created = await h.post('/v1/operator/api-keys', { name: `wallet ops ${scopes.join(' ')}`, scopes });
  expect(created.statusCode, created.body).toBe(201);
  return created.json().key as string;
}

async function topUp(token: string, amount: string): Promise<JsonObject> {
  const r = await h.post('/v1/wallet/top-ups', { amount, card_token: 'card_ok' }, { key: token });
  expect(r.statusCode, r.body).toBe(201);
  return r.json();
}

describe('wallet bank operations for operators', () => {
  it('lists operations the bank left undecided for a day, a page at a time, with the ledger:read scope', async () => {
    const alice = await newCustomer(h, { verify: true, accountClass: 'II' });
    // One the bank settles at once: never flagged.
    const settled = await topUp(alice.token, '1000');
    for (let i = 0; i < 200; i++) {
      const op = (await h.get(`/v1/wallet/top-ups/${settled.id}`, alice.token)).json();
      if (op.status !== 'pending') break;
      await new Promise((r) => setTimeout(r, 5));
    }

    // From here the bank takes requests and never decides them.
    vi.spyOn(h.bank, 'requestDebit').mockImplementation(async (r) => ({
      bankReference: `HELD-${r.reference}`,
    }));
    vi.spyOn(h.bank, 'status').mockResolvedValue('pending');
    const stuck = [
      await topUp(alice.token, '2000'),
      await topUp(alice.token, '3000'),
      await topUp(alice.token, '4000'),
    ];
    h.clock.advance(DAY + 60_000);
    await h.wallet.reconcileBankOperations();
    const flaggedAt = h.clock.now().toISOString();
    // Undecided too, but young: not flagged yet (a new customer: a day on, alice's token has expired).
    const bob = await newCustomer(h, { verify: true, accountClass: 'II' });
    const young = await topUp(bob.token, '5000');

    const all = await list('?attention=true');
    expect(all.statusCode, all.body).toBe(200);
    expect(all.json().next_cursor).toBeNull();
    const items = all.json().items as JsonObject[];
    expect(items.map((o) => o.id).sort()).toEqual(stuck.map((o) => o.id).sort());
    expect(items.find((o) => o.id === stuck[0]!.id)).toEqual({
      id: stuck[0]!.id,
      kind: 'top_up',
      user_id: alice.id,
      amount: '2000',
      currency: 'CNY',
      status: 'pending',
      failure_code: null,
      failure_message: null,
      created_at: stuck[0]!.created_at,
      updated_at: expect.any(String),
      attention_at: flaggedAt,
    });

    // Two pages of two and one, each operation once.
    const first = (await list('?attention=true&limit=2')).json();
    expect(first.items).toHaveLength(2);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = (
      await list(`?attention=true&limit=2&cursor=${encodeURIComponent(first.next_cursor)}`)
    ).json();
    expect(second.items).toHaveLength(1);
    expect(second.next_cursor).toBeNull();
    expect([...first.items, ...second.items].map((o: JsonObject) => o.id)).toEqual(items.map((o) => o.id));

    // Without the filter: every operation, the settled and the young one included.
    const every = (await list('?limit=500')).json().items as JsonObject[];
    const ids = every.map((o) => o.id);
    for (const op of [settled, young, ...stuck]) expect(ids).toContain(op.id);
    expect(every.find((o) => o.id === young.id)).toMatchObject({ status: 'pending', attention_at: null });

    // A read-only ledger key may look; a key without ledger:read may not.
    expect((await list('?attention=true', await keyWith(['ledger:read']))).json().items).toHaveLength(3);
    const refused = await list('?attention=true', await keyWith(['store:admin']));
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'FORBIDDEN_SCOPE', required_scope: 'ledger:read' });
    expect((await h.request({ method: 'GET', url: '/v1/operator/wallet/bank-operations' })).statusCode).toBe(
      401,
    );
    // A user's own token is not an operator key.
    expect((await list('', bob.token)).statusCode).toBe(401);
  });

  it('is published in OpenAPI with the operator key', async () => {
    const doc = (await h.get('/openapi.json', '')).json();
    const route = doc.paths['/v1/operator/wallet/bank-operations'].get;
    expect(route.security).toEqual([{ operatorKey: [] }]);
    expect(route.description).toContain('ledger:read');
  });

  it('refuses a cursor it did not hand out and a bad filter in plain words', async () => {
    const bad = await list('?attention=true&cursor=nonsense');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await list('?attention=yes')).statusCode).toBe(400);
  });
});
