import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteExpiredIdempotencyKeys, IDEMPOTENCY_TTL_MS } from '../src/api/index.ts';
import { MilletError } from '../src/core/index.ts';
import {
  openApiHarness,
  openWorldAndWallet,
  type ApiHarness,
  type ApiResponse,
} from './support/api-harness.ts';
import { newCustomer, sampleApplication, scoreCustomer, type Customer } from './support/customers.ts';
import { statementProductTerms } from './support/credit-products.ts';
import { newMerchant } from './support/merchants.ts';
import { makeResidentId } from './support/resident-ids.ts';
import { newStoreSale, orderOfAttempt, storeAttempt } from './support/store-orders.ts';

let h: ApiHarness;
/** Requests to the test route wait here until the test lets them go. */
const gates = new Map<string, Array<() => void>>();
let flakyCalls = 0;
/** Calls of the precondition route per name, and the names whose precondition now holds. */
const preconditionCalls = new Map<string, number>();
const preconditionMet = new Set<string>();

beforeAll(async () => {
  h = await openApiHarness({
    idempotency: { leaseMs: 60_000 },
    beforeReady(app) {
      app.post('/v1/test/slow', { config: { scope: 'ledger:write' } }, async (request, reply) => {
        const { gate } = request.body as { gate: string };
        await new Promise<void>((resolve) => gates.set(gate, [...(gates.get(gate) ?? []), resolve]));
        return reply.code(201).send({ done: gate, at: Date.now() });
      });
      app.post('/v1/test/precondition', { config: { scope: 'ledger:write' } }, async (request, reply) => {
        const { name, marked } = request.body as { name: string; marked: boolean };
        const calls = (preconditionCalls.get(name) ?? 0) + 1;
        preconditionCalls.set(name, calls);
        if (!preconditionMet.has(name))
          throw new MilletError('IDENTITY_NOT_VERIFIED', 'not yet', undefined, { beforeAnyEffect: marked });
        return reply.code(201).send({ name, calls });
      });
      app.post('/v1/test/flaky', { config: { scope: 'ledger:write' } }, async (_request, reply) => {
        flakyCalls += 1;
        if (flakyCalls === 1) throw new Error('transient');
        return reply.code(201).send({ calls: flakyCalls });
      });
    },
  });
});
afterAll(async () => {
  await h.close();
});

/** Waits until `count` requests are parked at the gate. */
async function waitForGate(gate: string, count = 1): Promise<void> {
  for (let i = 0; i < 500 && (gates.get(gate)?.length ?? 0) < count; i++)
    await new Promise((r) => setTimeout(r, 10));
  expect(gates.get(gate)?.length).toBe(count);
}

function openGate(gate: string): void {
  for (const release of gates.get(gate) ?? []) release();
  gates.delete(gate);
}

async function walletBalance(id: string): Promise<string> {
  return (await h.get(`/v1/ledger/accounts/${id}`)).json().balances.posted;
}

describe('Idempotency-Key', () => {
  it('is required on every POST', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    const missing = await h.post(
      '/v1/ledger/transfers',
      { debit_account_id: world, credit_account_id: wallet, amount: '1' },
      { idempotencyKey: null },
    );
    expect(missing.statusCode).toBe(400);
    expect(missing.json().code).toBe('IDEMPOTENCY_KEY_REQUIRED');
    for (const url of [
      '/v1/ledger/accounts',
      `/v1/ledger/holds/${randomUUID()}/void`,
      '/v1/operator/api-keys',
      `/v1/operator/api-keys/${randomUUID()}/revoke`,
    ]) {
      expect((await h.post(url, {}, { idempotencyKey: null })).json().code, url).toBe(
        'IDEMPOTENCY_KEY_REQUIRED',
      );
    }
    const tooLong = await h.post('/v1/ledger/accounts', {}, { idempotencyKey: 'x'.repeat(256) });
    expect(tooLong.json().code).toBe('VALIDATION_FAILED');
    // GETs need none.
    expect((await h.get('/v1/ledger/accounts')).statusCode).toBe(200);
  });

  it('replays the stored response for the same request, and posts once', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    const key = randomUUID();
    const body = {
      debit_account_id: world,
      credit_account_id: wallet,
      amount: '700',
      metadata: { b: 1, a: [1, 2] },
    };
    const first = await h.post('/v1/ledger/transfers', body, { idempotencyKey: key });
    expect(first.statusCode).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    // Same body with keys in another order is the same request.
    const again = await h.post(
      '/v1/ledger/transfers',
      { metadata: { a: [1, 2], b: 1 }, amount: '700', credit_account_id: wallet, debit_account_id: world },
      { idempotencyKey: key },
    );
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers['content-type']).toMatch(/^application\/json/);
    expect(again.body).toBe(first.body);
    expect(await walletBalance(wallet)).toBe('700');
  });

  it('takes no body, null and {} as the same request: a retry sending another replays', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    const hold = async () =>
      (
        await h.post('/v1/ledger/holds', { debit_account_id: world, credit_account_id: wallet, amount: '10' })
      ).json().hold_id as string;
    const json = { 'content-type': 'application/json', authorization: `Bearer ${h.adminKey}` };
    for (const action of ['post', 'void']) {
      const id = await hold();
      const key = randomUUID();
      const url = `/v1/ledger/holds/${id}/${action}`;
      const first = await h.post(url, undefined, { idempotencyKey: key });
      expect(first.statusCode, first.body).toBe(201);
      for (const body of ['{}', 'null']) {
        const retry = await h.request({
          method: 'POST',
          url,
          body,
          headers: { ...json, 'idempotency-key': key },
        });
        expect(retry.statusCode, retry.body).toBe(201);
        expect(retry.headers['idempotent-replayed']).toBe('true');
        expect(retry.body).toBe(first.body);
      }
    }
    // The other way round, and on an entry's reversal.
    const posted = await h.post('/v1/ledger/transfers', {
      debit_account_id: world,
      credit_account_id: wallet,
      amount: '5',
    });
    const key = randomUUID();
    const url = `/v1/ledger/entries/${posted.json().entry_id as string}/reverse`;
    const first = await h.post(url, {}, { idempotencyKey: key });
    expect(first.statusCode, first.body).toBe(201);
    const retry = await h.post(url, undefined, { idempotencyKey: key });
    expect(retry.statusCode, retry.body).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    // A body that says something is still another request.
    const other = await h.post(url, { metadata: { why: 'typo' } }, { idempotencyKey: key });
    expect(other.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await walletBalance(wallet)).toBe('10');
  });

  it('refuses the same key for a different body or path with 422', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    const key = randomUUID();
    await h.post(
      '/v1/ledger/transfers',
      { debit_account_id: world, credit_account_id: wallet, amount: '10' },
      { idempotencyKey: key },
    );
    const otherBody = await h.post(
      '/v1/ledger/transfers',
      { debit_account_id: world, credit_account_id: wallet, amount: '11' },
      { idempotencyKey: key },
    );
    expect(otherBody.statusCode).toBe(422);
    expect(otherBody.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(otherBody.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 422 });
    const otherPath = await h.post(
      '/v1/ledger/holds',
      { debit_account_id: world, credit_account_id: wallet, amount: '10' },
      { idempotencyKey: key },
    );
    expect(otherPath.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await walletBalance(wallet)).toBe('10');
  });

  it('stores 4xx results too: a refused transfer stays refused under its key', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    const key = randomUUID();
    const spend = { debit_account_id: wallet, credit_account_id: world, amount: '500' };
    const refused = await h.post('/v1/ledger/transfers', spend, { idempotencyKey: key });
    expect(refused.statusCode).toBe(422);
    expect(refused.json().code).toBe('INSUFFICIENT_FUNDS');
    await h.post('/v1/ledger/transfers', {
      debit_account_id: world,
      credit_account_id: wallet,
      amount: '1000',
    });
    const retried = await h.post('/v1/ledger/transfers', spend, { idempotencyKey: key });
    expect(retried.statusCode).toBe(422);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.body).toBe(refused.body);
    expect(await walletBalance(wallet)).toBe('1000');
  });

  it('remembers nothing for requests refused before they ran (validation)', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    const key = randomUUID();
    const invalid = await h.post(
      '/v1/ledger/transfers',
      { debit_account_id: world, credit_account_id: wallet, amount: 'lots' },
      { idempotencyKey: key },
    );
    expect(invalid.statusCode).toBe(400);
    const fixed = await h.post(
      '/v1/ledger/transfers',
      { debit_account_id: world, credit_account_id: wallet, amount: '5' },
      { idempotencyKey: key },
    );
    expect(fixed.statusCode).toBe(201);
    expect(fixed.headers['idempotent-replayed']).toBeUndefined();
  });

  it('does not store 5xx results, so the retry runs again', async () => {
    const key = randomUUID();
    const failed = await h.post('/v1/test/flaky', {}, { idempotencyKey: key });
    expect(failed.statusCode).toBe(500);
    const retried = await h.post('/v1/test/flaky', {}, { idempotencyKey: key });
    expect(retried.statusCode).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(retried.json()).toEqual({ calls: 2 });
    expect((await h.post('/v1/test/flaky', {}, { idempotencyKey: key })).headers['idempotent-replayed']).toBe(
      'true',
    );
  });

  it('answers 409 while a request with the same key is still in flight', async () => {
    const key = randomUUID();
    const gate = randomUUID();
    const first = h.post('/v1/test/slow', { gate }, { idempotencyKey: key });
    await waitForGate(gate);
    const concurrent = await h.post('/v1/test/slow', { gate }, { idempotencyKey: key });
    expect(concurrent.statusCode).toBe(409);
    expect(concurrent.json().code).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
    openGate(gate);
    const original = await first;
    expect(original.statusCode).toBe(201);
    const replay = await h.post('/v1/test/slow', { gate }, { idempotencyKey: key });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toBe(original.body);
  });

  it('lets a retry take over a claim abandoned past its lease, and the late original does not overwrite it', async () => {
    const key = randomUUID();
    const gate = randomUUID();
    const abandoned = h.post('/v1/test/slow', { gate }, { idempotencyKey: key });
    await waitForGate(gate, 1);
    h.clock.advance(61_000);
    const takeover = h.post('/v1/test/slow', { gate }, { idempotencyKey: key });
    await waitForGate(gate, 2);
    openGate(gate);
    const [late, winner] = await Promise.all([abandoned, takeover]);
    expect(late.statusCode).toBe(201);
    expect(winner.statusCode).toBe(201);
    const replay = await h.post('/v1/test/slow', { gate }, { idempotencyKey: key });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect([late.body, winner.body]).toContain(replay.body);
  });

  it('posts exactly once under a burst of identical concurrent requests', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    const key = randomUUID();
    const body = { debit_account_id: world, credit_account_id: wallet, amount: '42' };
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => h.post('/v1/ledger/transfers', body, { idempotencyKey: key })),
    );
    const fresh = responses.filter(
      (r) => r.statusCode === 201 && r.headers['idempotent-replayed'] === undefined,
    );
    expect(fresh).toHaveLength(1);
    for (const r of responses) {
      if (r.statusCode === 201) expect(r.json().entry_id).toBe(fresh[0]!.json().entry_id);
      else expect(r.json().code).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
    }
    expect(await walletBalance(wallet)).toBe('42');
  });

  it('scopes keys per principal', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    const other = (
      await h.post('/v1/operator/api-keys', {
        name: 'second writer',
        scopes: ['ledger:write', 'ledger:read'],
      })
    ).json().key;
    const key = randomUUID();
    const a = await h.post(
      '/v1/ledger/transfers',
      { debit_account_id: world, credit_account_id: wallet, amount: '3' },
      { idempotencyKey: key },
    );
    const b = await h.post(
      '/v1/ledger/transfers',
      { debit_account_id: world, credit_account_id: wallet, amount: '4' },
      { idempotencyKey: key, key: other },
    );
    expect(a.statusCode).toBe(201);
    expect(b.statusCode).toBe(201);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
    expect(await walletBalance(wallet)).toBe('7');
  });

  it('expires keys after 24 hours; a reused key then maps to the same ledger entry', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    const key = randomUUID();
    const body = { debit_account_id: world, credit_account_id: wallet, amount: '250' };
    const first = await h.post('/v1/ledger/transfers', body, { idempotencyKey: key });
    h.clock.advance(IDEMPOTENCY_TTL_MS + 1000);
    expect(await deleteExpiredIdempotencyKeys(h.t.db, h.clock.now())).toBeGreaterThan(0);
    const remaining = await h.t.db.query('SELECT 1 FROM api_idempotency_keys WHERE idempotency_key = $1', [
      key,
    ]);
    expect(remaining.rows).toHaveLength(0);
    const later = await h.post('/v1/ledger/transfers', body, { idempotencyKey: key });
    expect(later.statusCode).toBe(201);
    expect(later.headers['idempotent-replayed']).toBeUndefined();
    // The ledger command id is derived from the key, so the ledger itself replays the original.
    expect(later.json().entry_id).toBe(first.json().entry_id);
    expect(later.json().seq).toBe(first.json().seq);
    expect(await walletBalance(wallet)).toBe('250');
  });

  it('treats an expired key as new even before the cleanup runs', async () => {
    const { world, wallet } = await openWorldAndWallet(h);
    const key = randomUUID();
    await h.post(
      '/v1/ledger/accounts',
      { currency: 'CNY', code: 'expiry_probe', bound: { kind: 'unbounded' } },
      { idempotencyKey: key },
    );
    h.clock.advance(IDEMPOTENCY_TTL_MS + 1000);
    const reused = await h.post(
      '/v1/ledger/transfers',
      { debit_account_id: world, credit_account_id: wallet, amount: '1' },
      { idempotencyKey: key },
    );
    expect(reused.statusCode).toBe(201);
  });
});

describe('Idempotency-Key and refusals before any effect', () => {
  let residentSequence = 100;
  const verify = async (c: Customer, accountClass = 'II') => {
    residentSequence += 1;
    const kyc = await h.post(
      '/v1/me/identity',
      {
        real_name: '王小明',
        resident_id: makeResidentId('110105', '19790304', String(residentSequence)),
        account_class: accountClass,
      },
      { key: c.token },
    );
    expect(kyc.statusCode, kyc.body).toBe(200);
  };
  const walletOf = async (c: Customer) => (await h.get('/v1/wallet', c.token)).json();
  const keyRows = async (key: string) =>
    (await h.t.db.query('SELECT 1 FROM api_idempotency_keys WHERE idempotency_key = $1', [key])).rows.length;

  it('forgets the key of a refusal marked beforeAnyEffect, and stores an unmarked one', async () => {
    for (const marked of [true, false]) {
      const name = randomUUID();
      const key = randomUUID();
      const send = () => h.post('/v1/test/precondition', { name, marked }, { idempotencyKey: key });
      const refused = await send();
      expect(refused.json().code).toBe('IDENTITY_NOT_VERIFIED');
      preconditionMet.add(name);
      const retried = await send();
      if (marked) {
        expect(retried.statusCode, retried.body).toBe(201);
        expect(retried.headers['idempotent-replayed']).toBeUndefined();
        expect(retried.json()).toEqual({ name, calls: 2 });
        const replay = await send();
        expect(replay.headers['idempotent-replayed']).toBe('true');
        expect(replay.body).toBe(retried.body);
      } else {
        // The code alone proves nothing: only the thrower knows nothing happened.
        expect(retried.statusCode).toBe(403);
        expect(retried.headers['idempotent-replayed']).toBe('true');
        expect(retried.body).toBe(refused.body);
      }
      expect(preconditionCalls.get(name)).toBe(marked ? 2 : 1);
    }
  });

  it('runs a withdrawal refused for an unverified identity again under the same key once verified', async () => {
    const c = await newCustomer(h, { verify: false, funds: 50_000n });
    const key = randomUUID();
    const withdraw = () =>
      h.post(
        '/v1/wallet/withdrawals',
        { amount: '1000', card_token: 'card_ok' },
        { key: c.token, idempotencyKey: key },
      );
    const refused = await withdraw();
    expect(refused.statusCode, refused.body).toBe(403);
    expect(refused.json().code).toBe('IDENTITY_NOT_VERIFIED');
    expect(await keyRows(key)).toBe(0);
    await verify(c);
    const retried = await withdraw();
    expect(retried.statusCode, retried.body).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(retried.json()).toMatchObject({ kind: 'withdrawal', amount: '1000' });
    // Once it took effect, the key answers with it: a replay, held once.
    const replay = await withdraw();
    expect(replay.statusCode).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toBe(retried.body);
    expect((await walletOf(c)).available).toBe('49000');
  });

  it('runs a transfer refused for an unverified identity again under the same key once verified', async () => {
    const c = await newCustomer(h, { verify: false, funds: 50_000n });
    const friend = await newCustomer(h);
    const key = randomUUID();
    const send = () =>
      h.post(
        '/v1/transfers',
        { to_user_id: friend.id, amount: '300' },
        { key: c.token, idempotencyKey: key },
      );
    expect((await send()).json().code).toBe('IDENTITY_NOT_VERIFIED');
    await verify(c);
    const retried = await send();
    expect(retried.statusCode, retried.body).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    const replay = await send();
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toBe(retried.body);
    expect((await walletOf(friend)).balance).toBe('300');
  });

  it('still replays a withdrawal refused after it was recorded (the bank declined)', async () => {
    const c = await newCustomer(h, { funds: 50_000n });
    const key = randomUUID();
    const withdraw = () =>
      h.post(
        '/v1/wallet/withdrawals',
        { amount: '1000', card_token: 'sandbox_decline' },
        { key: c.token, idempotencyKey: key },
      );
    const declined = await withdraw();
    expect(declined.statusCode, declined.body).toBe(422);
    expect(declined.json().code).toBe('BANK_DECLINED');
    const retried = await withdraw();
    expect(retried.statusCode).toBe(422);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.body).toBe(declined.body);
    expect(await walletOf(c)).toMatchObject({ balance: '50000', available: '50000' });
  });

  it('keeps concurrent duplicates to one withdrawal, before and after the identity is verified', async () => {
    const c = await newCustomer(h, { verify: false, funds: 50_000n });
    const key = randomUUID();
    const burst = () =>
      Promise.all(
        Array.from({ length: 6 }, () =>
          h.post(
            '/v1/wallet/withdrawals',
            { amount: '700', card_token: 'card_ok' },
            { key: c.token, idempotencyKey: key },
          ),
        ),
      );
    for (const r of await burst()) {
      expect(['IDENTITY_NOT_VERIFIED', 'IDEMPOTENCY_KEY_IN_PROGRESS'], r.body).toContain(r.json().code);
      expect(r.headers['idempotent-replayed']).toBeUndefined();
    }
    expect(await keyRows(key)).toBe(0);
    await verify(c);
    const responses = await burst();
    const fresh = responses.filter(
      (r) => r.statusCode === 201 && r.headers['idempotent-replayed'] === undefined,
    );
    expect(fresh, responses.map((r) => r.body).join('\n')).toHaveLength(1);
    for (const r of responses) {
      if (r.statusCode === 201) expect(r.body).toBe(fresh[0]!.body);
      else expect(r.json().code).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
    }
    expect((await walletOf(c)).available).toBe('49300');
  });

  /** A refusal whose key was forgotten: answered fresh, and nothing stored under the key. */
  const expectForgotten = async (refused: ApiResponse, code: string, key: string) => {
    expect(refused.json().code, refused.body).toBe(code);
    expect(refused.headers['idempotent-replayed']).toBeUndefined();
    expect(await keyRows(key)).toBe(0);
  };
  /** The same request runs afresh under the key, and the next retry replays what it answered. */
  const expectRunsThenReplays = async (send: () => Promise<ApiResponse>, status: number) => {
    const ran = await send();
    expect(ran.statusCode, ran.body).toBe(status);
    expect(ran.headers['idempotent-replayed']).toBeUndefined();
    const replay = await send();
    expect(replay.statusCode).toBe(status);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toBe(ran.body);
    return ran;
  };

  it('runs a credit consent refused for an unverified identity again under the same key once verified', async () => {
    const c = await newCustomer(h, { verify: false });
    const key = randomUUID();
    const grant = () => h.post('/v1/me/credit-consent', {}, { key: c.token, idempotencyKey: key });
    await expectForgotten(await grant(), 'IDENTITY_NOT_VERIFIED', key);
    await verify(c);
    await expectRunsThenReplays(grant, 201);
  });

  it('runs a score refused for an unverified identity, then for want of consent, again under the same key', async () => {
    const c = await newCustomer(h, { verify: false });
    const key = randomUUID();
    const score = () =>
      h.post('/v1/me/score', { application: sampleApplication }, { key: c.token, idempotencyKey: key });
    await expectForgotten(await score(), 'IDENTITY_NOT_VERIFIED', key);
    await verify(c);
    await expectForgotten(await score(), 'CONSENT_REQUIRED', key);
    expect((await h.post('/v1/me/credit-consent', {}, { key: c.token })).statusCode).toBe(201);
    const scored = await expectRunsThenReplays(score, 201);
    // Scored once: the replay computed nothing.
    const history = await h.get('/v1/me/score/history', c.token);
    expect(history.statusCode, history.body).toBe(200);
    expect(history.json().items.map((s: { id: string }) => s.id)).toEqual([scored.json().id]);
  });

  it('runs a marketplace application refused for identity, then for want of a score, again under the same key', async () => {
    const c = await newCustomer(h, { verify: false });
    const key = randomUUID();
    const apply = () =>
      h.post(
        '/v1/marketplace/applications',
        { amount: '500000', term_months: 12, region_code: '110105' },
        { key: c.token, idempotencyKey: key },
      );
    await expectForgotten(await apply(), 'IDENTITY_NOT_VERIFIED', key);
    await verify(c);
    await expectForgotten(await apply(), 'CREDIT_SCORE_NOT_FOUND', key);
    await scoreCustomer(h, c);
    const applied = await expectRunsThenReplays(apply, 201);
    const mine = await h.get(`/v1/marketplace/applications/${applied.json().id}`, c.token);
    expect(mine.statusCode, mine.body).toBe(200);
  });

  it('runs a pay-later line refused for identity, then for want of a score, again under the same key', async () => {
    const product = await h.post('/v1/operator/paylater/products', {
      code: 'idem-line',
      name: '花呗',
      ...statementProductTerms,
    });
    expect(product.statusCode, product.body).toBe(201);
    const bands = await h.post('/v1/operator/paylater/limit-bands', {
      bands: [{ min_score: 350, limit: '1000000' }],
    });
    expect(bands.statusCode, bands.body).toBe(201);
    const c = await newCustomer(h, { verify: false });
    const key = randomUUID();
    const open = () =>
      h.post('/v1/paylater/line', { product_id: product.json().id }, { key: c.token, idempotencyKey: key });
    const unverified = await open();
    await expectForgotten(unverified, 'PAYLATER_NOT_ELIGIBLE', key);
    expect(unverified.json().reason).toBe('identity_not_verified');
    await verify(c);
    const unscored = await open();
    await expectForgotten(unscored, 'PAYLATER_NOT_ELIGIBLE', key);
    expect(unscored.json().reason).toBe('no_score');
    await scoreCustomer(h, c);
    const opened = await expectRunsThenReplays(open, 201);
    expect(opened.json().limit).toBe('1000000');
  });

  it('runs a service order acceptance refused for an unverified identity again under the same key once verified', async () => {
    const merchant = (
      await h.post('/v1/operator/merchants', { name: `充电宝 ${randomUUID().slice(0, 8)}`, fee_bps: 60 })
    ).json();
    const merchantKey = (
      await h.post(`/v1/operator/merchants/${merchant.id}/api-keys`, {
        name: 'desk',
        scopes: ['payments:write', 'payments:read'],
      })
    ).json().key as string;
    const order = await h.post(
      '/v1/merchant/service-orders',
      {
        merchant_reference: `rent-${randomUUID().slice(0, 8)}`,
        description: 'Power bank rental',
        risk_amount: '9900',
        score_bar: 600,
      },
      { key: merchantKey },
    );
    expect(order.statusCode, order.body).toBe(201);
    const c = await newCustomer(h, { verify: false, funds: 50_000n });
    const key = randomUUID();
    const accept = () =>
      h.post(`/v1/service-orders/${order.json().id}/accept`, {}, { key: c.token, idempotencyKey: key });
    await expectForgotten(await accept(), 'IDENTITY_NOT_VERIFIED', key);
    await verify(c);
    const accepted = await expectRunsThenReplays(accept, 200);
    expect(accepted.json()).toMatchObject({ user_id: c.id, deposit: 'held', decision: 'no_consent' });
    // The deposit held once.
    expect((await walletOf(c)).available).toBe('40100');
  });

  it('runs a payment order payment refused for an unverified payer again under the same key once verified', async () => {
    const merchant = await newMerchant(h, '便利店');
    // Without a payment id the route tries the ledger's batch first; with one it takes the ordinary path.
    for (const paymentId of [undefined, randomUUID()]) {
      const order = await h.post(
        '/v1/merchant/payment-orders',
        { merchant_reference: `till-${randomUUID().slice(0, 8)}`, amount: '1200', description: 'Lunch' },
        { key: merchant.key },
      );
      expect(order.statusCode, order.body).toBe(201);
      const c = await newCustomer(h, { verify: false, funds: 50_000n });
      const key = randomUUID();
      const pay = () =>
        h.post(
          `/v1/payment-orders/${order.json().id}/pay`,
          { method: 'balance', ...(paymentId ? { id: paymentId } : {}) },
          { key: c.token, idempotencyKey: key },
        );
      const refused = await pay();
      expect(refused.statusCode, refused.body).toBe(403);
      await expectForgotten(refused, 'IDENTITY_NOT_VERIFIED', key);
      await verify(c);
      const paid = await expectRunsThenReplays(pay, 201);
      expect(paid.json()).toMatchObject({ status: 'succeeded', amount: '1200' });
      if (paymentId) expect(paid.json().id).toBe(paymentId);
      // Paid once.
      expect((await walletOf(c)).balance).toBe('48800');
      expect((await h.get(`/v1/payment-orders/${order.json().id}`, c.token)).json().status).toBe('paid');
    }
  });

  it('still replays a store checkout refused for an unverified buyer (the store wrote before paying)', async () => {
    const { saleId, startsAt } = await newStoreSale(h);
    const c = await newCustomer(h, { verify: false, funds: 2_000_000n });
    const registered = await h.post(`/v1/store/sales/${saleId}/registrations`, {}, { key: c.token });
    expect(registered.statusCode, registered.body).toBe(201);
    h.clock.set(new Date(startsAt + 1));
    const won = await storeAttempt(h, c, saleId);
    expect(won.statusCode, won.body).toBe(201);
    const placed = await orderOfAttempt(h, c, saleId, won.json().attempt_id);
    const key = randomUUID();
    const pay = (idempotencyKey = key) =>
      h.post(`/v1/store/orders/${placed.id}/pay`, { method: 'balance' }, { key: c.token, idempotencyKey });
    const refused = await pay();
    expect(refused.statusCode, refused.body).toBe(403);
    expect(refused.json().code).toBe('IDENTITY_NOT_VERIFIED');
    expect(await keyRows(key)).toBe(1);
    await verify(c, 'III');
    const retried = await pay();
    expect(retried.statusCode).toBe(403);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.body).toBe(refused.body);
    // The order was given back: a new key pays it.
    const paid = await pay(randomUUID());
    expect(paid.statusCode, paid.body).toBe(200);
    expect(paid.json().status).toBe('paid');
  });
});
