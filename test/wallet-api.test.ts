import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';
import { newCustomer, type Customer } from './support/customers.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});

/** A user signed up, logged in, identity-verified (unless `verify` is false) and with a wallet. */
const customer = (verify = true): Promise<Customer> => newCustomer(h, { verify, accountClass: 'II' });

async function balance(token: string): Promise<JsonObject> {
  return (await h.get('/v1/wallet', token)).json();
}

async function settledOperation(
  kind: 'top-ups' | 'withdrawals',
  id: string,
  token: string,
): Promise<JsonObject> {
  for (let i = 0; i < 200; i++) {
    const operation = (await h.get(`/v1/wallet/${kind}/${id}`, token)).json();
    if (operation.status !== 'pending') return operation;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('never settled');
}

describe('the wallet over HTTP', () => {
  it('top up, pay a friend (retry-safe), withdraw with a failing bank, and the ledger verifies', async () => {
    const alice = await customer();
    const bob = await customer();

    const topUp = await h.post(
      '/v1/wallet/top-ups',
      { amount: '50000', card_token: 'card_ok' },
      { key: alice.token },
    );
    expect(topUp.statusCode, topUp.body).toBe(201);
    expect(topUp.json()).toMatchObject({ kind: 'top_up', status: 'pending', amount: '50000' });
    expect(await settledOperation('top-ups', topUp.json().id, alice.token)).toMatchObject({
      status: 'succeeded',
    });
    expect(await balance(alice.token)).toMatchObject({ balance: '50000', available: '50000' });

    const key = randomUUID();
    const pay = () =>
      h.post(
        '/v1/transfers',
        { to_user_id: bob.id, amount: '12000', memo: 'dinner' },
        { key: alice.token, idempotencyKey: key },
      );
    const first = await pay();
    const retry = await pay();
    expect(first.statusCode, first.body).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json().id).toBe(first.json().id);
    expect((await balance(alice.token)).balance).toBe('38000');
    expect((await balance(bob.token)).balance).toBe('12000');
    expect((await h.get(`/v1/transfers/${first.json().id}`, bob.token)).json()).toMatchObject({
      status: 'succeeded',
      memo: 'dinner',
    });

    const withdrawal = await h.post(
      '/v1/wallet/withdrawals',
      { amount: '10000', card_token: 'sandbox_fail' },
      { key: bob.token },
    );
    expect(withdrawal.statusCode, withdrawal.body).toBe(201);
    expect(await settledOperation('withdrawals', withdrawal.json().id, bob.token)).toMatchObject({
      status: 'failed',
      failure_code: 'BANK_DECLINED',
    });
    expect(await balance(bob.token)).toMatchObject({ balance: '12000', available: '12000' });

    const statement = (await h.get('/v1/wallet/statement?limit=10', alice.token)).json();
    expect(statement.items.map((line: JsonObject) => line.balance_after)).toEqual(['50000', '38000']);

    const verify = await h.get('/v1/ledger/verify');
    expect(verify.json().ok).toBe(true);
  });

  it('the statement filters by posting time; an operation is found only as its own kind', async () => {
    const user = await customer();
    const topUp = await h.post(
      '/v1/wallet/top-ups',
      { amount: '3000', card_token: 'card_ok' },
      { key: user.token },
    );
    await settledOperation('top-ups', topUp.json().id, user.token);
    h.clock.advance(120_000);
    const withdrawal = await h.post(
      '/v1/wallet/withdrawals',
      { amount: '1000', card_token: 'card_ok' },
      { key: user.token },
    );
    await settledOperation('withdrawals', withdrawal.json().id, user.token);
    const amounts = async (query: string) => {
      const page = await h.get(`/v1/wallet/statement?${query}`, user.token);
      expect(page.statusCode, page.body).toBe(200);
      return page.json().items.map((line: JsonObject) => `${line.side} ${line.amount} ${line.phase}`);
    };
    const split = new Date(h.clock.now().getTime() - 60_000).toISOString();
    expect(await amounts(`to=${split}`)).toEqual(['credit 3000 posted']);
    expect(await amounts(`from=${split}`)).toEqual([
      'debit 1000 pending',
      'debit 1000 released',
      'debit 1000 posted',
    ]);
    expect(await amounts(`from=${split}&to=${split}`)).toEqual([]);
    const bad = await h.get('/v1/wallet/statement?from=yesterday', user.token);
    expect([bad.statusCode, bad.json().code]).toEqual([400, 'VALIDATION_FAILED']);

    const asTopUp = await h.get(`/v1/wallet/top-ups/${withdrawal.json().id}`, user.token);
    expect([asTopUp.statusCode, asTopUp.json().code]).toEqual([404, 'TOP_UP_NOT_FOUND']);
    const stranger = await customer();
    const theirs = await h.get(`/v1/wallet/withdrawals/${withdrawal.json().id}`, stranger.token);
    expect([theirs.statusCode, theirs.json().code]).toEqual([404, 'WITHDRAWAL_NOT_FOUND']);
  });

  it('answers refusals as problem+json with stable codes', async () => {
    const payer = await customer();
    const stranger = await customer(false);

    const declined = await h.post(
      '/v1/wallet/top-ups',
      { amount: '100', card_token: 'sandbox_decline' },
      { key: payer.token },
    );
    expect(declined.statusCode).toBe(422);
    expect(declined.headers['content-type']).toContain('application/problem+json');
    expect(declined.json().code).toBe('BANK_DECLINED');
    const blankCard = await h.post(
      '/v1/wallet/withdrawals',
      { amount: '100', card_token: '   ' },
      { key: payer.token },
    );
    expect([blankCard.statusCode, blankCard.json().code]).toEqual([400, 'VALIDATION_FAILED']);

    const broke = await h.post(
      '/v1/transfers',
      { to_user_id: stranger.id, amount: '1' },
      { key: payer.token },
    );
    expect(broke.json().code).toBe('INSUFFICIENT_FUNDS');
    const unverified = await h.post(
      '/v1/transfers',
      { to_user_id: payer.id, amount: '1' },
      { key: stranger.token },
    );
    expect(unverified.statusCode).toBe(403);
    expect(unverified.json().code).toBe('IDENTITY_NOT_VERIFIED');
    // Nor may an unverified user withdraw to a card, whatever the wallet holds: nothing is held.
    const unverifiedRich = await newCustomer(h, { verify: false, funds: 50_000n });
    const unverifiedOut = await h.post(
      '/v1/wallet/withdrawals',
      { amount: '10000', card_token: 'card_ok' },
      { key: unverifiedRich.token },
    );
    expect(unverifiedOut.statusCode, unverifiedOut.body).toBe(403);
    expect(unverifiedOut.headers['content-type']).toContain('application/problem+json');
    expect(unverifiedOut.json().code).toBe('IDENTITY_NOT_VERIFIED');
    expect(await balance(unverifiedRich.token)).toMatchObject({ balance: '50000', available: '50000' });
    const badAmount = await h.post(
      '/v1/transfers',
      { to_user_id: payer.id, amount: '1.50' },
      { key: payer.token },
    );
    expect(badAmount.statusCode).toBe(400);
    expect(badAmount.json().code).toBe('VALIDATION_FAILED');

    expect((await h.get('/v1/wallet')).statusCode).toBe(401); // an operator key is not a user
    expect((await h.get(`/v1/transfers/${randomUUID()}`, payer.token)).statusCode).toBe(404);
    const noWallet = await h.get('/v1/wallet/withdrawals/not-a-uuid', payer.token);
    expect(noWallet.statusCode).toBe(404);
  });
});

/**
 * PBoC 《非银行支付机构网络支付业务管理办法》 (2015) Art. 11: a Class I account's 1,000 CNY lifetime
 * limit includes transfers to the customer's own bank account (withdrawals); Classes II and III's
 * yearly limits exclude them.
 */
describe('withdrawals against the account-class limits', () => {
  const withdraw = (c: Customer, amount: string, cardToken = 'card_ok') =>
    h.post('/v1/wallet/withdrawals', { amount, card_token: cardToken }, { key: c.token });
  let stranger: Customer;
  beforeAll(async () => {
    stranger = await customer();
  });
  const payStranger = (c: Customer, amount: string) =>
    h.post('/v1/transfers', { to_user_id: stranger.id, amount }, { key: c.token });

  it('a Class I withdrawal counts toward the lifetime limit and is refused over it', async () => {
    const ivy = await newCustomer(h, { accountClass: 'I', funds: 300_000n });
    const first = await withdraw(ivy, '60000');
    expect(first.statusCode, first.body).toBe(201);
    const over = await withdraw(ivy, '40001');
    expect([over.statusCode, over.json().code]).toEqual([422, 'PAYMENT_LIMIT_EXCEEDED']);
    expect(over.json()).toMatchObject({ account_class: 'I', used: '60000', limit: '100000' });
    // Refused before the hold: nothing of the wallet is held for it. (The first is settled before
    // the balance is read: the sandbox bank pays it out 60 ms on, so an unsettled read was racy.)
    expect(await settledOperation('withdrawals', first.json().id, ivy.token)).toMatchObject({
      status: 'succeeded',
    });
    expect(await balance(ivy.token)).toMatchObject({ balance: '240000', available: '240000' });
    const rest = await withdraw(ivy, '40000');
    expect(rest.statusCode, rest.body).toBe(201);
    expect(await settledOperation('withdrawals', rest.json().id, ivy.token)).toMatchObject({
      status: 'succeeded',
    });
    // Withdrawals and payments share the one lifetime allowance.
    expect((await payStranger(ivy, '1')).json().code).toBe('PAYMENT_LIMIT_EXCEEDED');
  });

  it('a failed or declined Class I withdrawal gives its allowance back, once', async () => {
    const ivy = await newCustomer(h, { accountClass: 'I', funds: 300_000n });
    const failing = await withdraw(ivy, '100000', 'sandbox_fail');
    expect(failing.statusCode, failing.body).toBe(201);
    expect(await settledOperation('withdrawals', failing.json().id, ivy.token)).toMatchObject({
      status: 'failed',
      failure_code: 'BANK_DECLINED',
    });
    const declined = await withdraw(ivy, '100000', 'sandbox_decline');
    expect([declined.statusCode, declined.json().code]).toEqual([422, 'BANK_DECLINED']);
    // Reconciliation finds nothing pending to settle again, so nothing is given back twice.
    h.clock.advance(120_000);
    await h.wallet.reconcileBankOperations();
    const full = await withdraw(ivy, '100000');
    expect(full.statusCode, full.body).toBe(201);
    expect(await settledOperation('withdrawals', full.json().id, ivy.token)).toMatchObject({
      status: 'succeeded',
    });
    const over = await withdraw(ivy, '1');
    expect([over.statusCode, over.json().used]).toEqual([422, '100000']);
    expect(await balance(ivy.token)).toMatchObject({ balance: '200000', available: '200000' });
  });

  it('two Class I withdrawals at once never pass the limit together', async () => {
    const ivy = await newCustomer(h, { accountClass: 'I', funds: 500_000n });
    const results = await Promise.all(Array.from({ length: 4 }, () => withdraw(ivy, '40000')));
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses, results.map((r) => r.body).join('\n')).toEqual([201, 201, 422, 422]);
    for (const refused of results.filter((r) => r.statusCode === 422))
      expect(refused.json().code).toBe('PAYMENT_LIMIT_EXCEEDED');
    // Settled first: the sandbox bank pays out 60 ms on, so an unsettled read of the balance was racy.
    for (const accepted of results.filter((r) => r.statusCode === 201))
      expect(await settledOperation('withdrawals', accepted.json().id, ivy.token)).toMatchObject({
        status: 'succeeded',
      });
    expect(await balance(ivy.token)).toMatchObject({ balance: '420000', available: '420000' });
  });

  it('Class II and III withdrawals do not count toward the yearly payment limit', async () => {
    for (const [accountClass, limit] of [
      ['II', 10_000_000n],
      ['III', 20_000_000n],
    ] as const) {
      const user = await newCustomer(h, { accountClass, funds: limit + 4_000_000n });
      const out = await withdraw(user, '4000000');
      expect(out.statusCode, out.body).toBe(201);
      expect(await settledOperation('withdrawals', out.json().id, user.token)).toMatchObject({
        status: 'succeeded',
      });
      const whole = await payStranger(user, limit.toString());
      expect(whole.statusCode, whole.body).toBe(201);
      expect((await payStranger(user, '1')).json().code).toBe('PAYMENT_LIMIT_EXCEEDED');
    }
  });
});
