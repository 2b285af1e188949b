import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEndOfDayClose, jobsMigrations } from '../src/jobs/index.ts';
import { applyMigrations } from '../src/db/index.ts';
import { openApiHarness, type ApiHarness } from './support/api-harness.ts';
import { signUpOverHttp } from './support/customers.ts';
import { makeResidentId } from './support/resident-ids.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
  await applyMigrations(h.t.db, jobsMigrations);
});
afterAll(async () => {
  await h.close();
});

async function customer(): Promise<{ id: string; token: string }> {
  const phone = '13912345678';
  const user = await signUpOverHttp(h, phone, 'password-1');
  const token = (await h.post('/v1/sessions', { phone, password: 'password-1' }, { key: null })).json()
    .access_token as string;
  const kyc = await h.post(
    '/v1/me/identity',
    { real_name: '王小明', resident_id: makeResidentId('110105', '19900307', '077'), account_class: 'II' },
    { key: token },
  );
  expect(kyc.statusCode, kyc.body).toBe(200);
  expect((await h.post('/v1/wallet', {}, { key: token })).statusCode).toBe(201);
  const topUp = await h.post(
    '/v1/wallet/top-ups',
    { amount: '4000000', card_token: 'card_1' },
    { key: token },
  );
  expect(topUp.statusCode, topUp.body).toBe(201);
  for (let i = 0; i < 200 && (await h.get('/v1/wallet', token)).json().balance !== '4000000'; i++)
    await new Promise((r) => setTimeout(r, 5));
  return { id: user.json().id as string, token };
}

describe('wealth over HTTP', () => {
  it('operator sets up a fund; a user subscribes, earns in the close, redeems fast up to the cap', async () => {
    const fund = await h.post('/v1/operator/wealth/products', {
      kind: 'money_fund',
      code: 'MMF1',
      name: '小米宝',
    });
    expect(fund.statusCode, fund.body).toBe(201);
    const fundId = fund.json().id as string;
    const fixed = await h.post('/v1/operator/wealth/products', {
      kind: 'fixed_term',
      code: 'FT90',
      name: '90 天定期',
      term_days: 90,
      expected_yield: '3.25',
      roll_into_product_id: fundId,
    });
    expect(fixed.json()).toMatchObject({ kind: 'fixed_term', term_days: 90, expected_yield: '3.2500' });
    expect(
      (await h.post('/v1/operator/wealth/holidays', { date: '2025-06-02', name: '端午节' })).statusCode,
    ).toBe(201);
    const rates = ['1.7120', '1.7085', '1.7090', '1.7093', '1.7093', '1.7093', '1.7077'];
    for (let i = 0; i < 7; i++) {
      const published = await h.post(`/v1/operator/wealth/products/${fundId}/daily-income`, {
        date: `2025-06-0${i + 1}`,
        income_per_10k: rates[i],
      });
      expect(published.statusCode, published.body).toBe(201);
    }
    const conflict = await h.post(`/v1/operator/wealth/products/${fundId}/daily-income`, {
      date: '2025-06-01',
      income_per_10k: '1.0000',
    });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().code).toBe('WEALTH_RATE_CONFLICT');

    const alice = await customer();
    const yields = await h.get(
      `/v1/wealth/products/${fundId}/yields?from=2025-06-01&to=2025-06-07`,
      alice.token,
    );
    expect(yields.json().items[6]).toEqual({
      date: '2025-06-07',
      income_per_10k: '1.7077',
      seven_day_yield: '6.437',
    });

    // Sunday 08:00 in Shanghai; Monday 06-02 is a holiday: T = Tuesday, confirmed Wednesday.
    const sub = await h.post(
      '/v1/wealth/subscriptions',
      { product_id: fundId, amount: '3000000' },
      { key: alice.token },
    );
    expect(sub.statusCode, sub.body).toBe(201);
    expect(sub.json()).toMatchObject({
      status: 'pending',
      trade_date: '2025-06-03',
      confirm_date: '2025-06-04',
    });
    expect((await h.get('/v1/wealth/subscriptions', alice.token)).json().items).toHaveLength(1);
    expect((await h.get('/v1/wallet', alice.token)).json().balance).toBe('1000000');

    const close = createEndOfDayClose({ db: h.t.db, clock: h.clock, steps: h.wealth.closeSteps() });
    for (const date of ['2025-06-01', '2025-06-02', '2025-06-03', '2025-06-04'])
      expect((await close.close(date, { fastForward: true })).status).toBe('completed');
    h.clock.set('2025-06-05T02:00:00Z');
    // Access tokens last 15 minutes of business time: log in again after the fast-forward.
    alice.token = (
      await h.post('/v1/sessions', { phone: '13912345678', password: 'password-1' }, { key: null })
    ).json().access_token as string;
    const holdings = (await h.get('/v1/wealth/holdings', alice.token)).json().items;
    // 30,000.00 × 1.7093 / 10,000 = 5.1279 → 5.12 on 06-04.
    expect(holdings).toEqual([
      expect.objectContaining({
        shares: '3000512',
        pending_fast_redemption_shares: '0',
        yesterday_income: '512',
        cumulative_income: '512',
      }),
    ]);
    expect((await h.get(`/v1/wealth/holdings/${fundId}/income`, alice.token)).json().items).toEqual([
      { date: '2025-06-04', shares: '3000000', income: '512' },
    ]);

    const fast = (shares: string) =>
      h.post('/v1/wealth/redemptions/fast', { product_id: fundId, shares }, { key: alice.token });
    expect((await fast('600000')).statusCode).toBe(201);
    expect((await fast('400000')).json()).toMatchObject({ kind: 'fast', status: 'paid' });
    const over = await fast('1');
    expect(over.statusCode).toBe(422);
    expect(over.json()).toMatchObject({ code: 'WEALTH_FAST_REDEMPTION_LIMIT_EXCEEDED' });
    expect(over.json().detail).toMatch(/10000\.00 CNY a day; 0\.00 CNY is left/);
    const normal = await h.post(
      '/v1/wealth/redemptions/normal',
      { product_id: fundId, shares: '1500000' },
      { key: alice.token },
    );
    expect(normal.json()).toMatchObject({
      kind: 'normal',
      status: 'pending',
      confirm_date: '2025-06-06',
      income_loss: '0',
    });
    expect((await h.get('/v1/wallet', alice.token)).json().balance).toBe('2000000');

    const locked = await h.post(
      '/v1/wealth/subscriptions',
      { product_id: fixed.json().id, amount: '100000' },
      { key: alice.token },
    );
    expect(locked.statusCode).toBe(201);
    const exit = await h.post(
      '/v1/wealth/redemptions/fast',
      { product_id: fixed.json().id, shares: '100000' },
      { key: alice.token },
    );
    expect(exit.statusCode).toBe(409);
    expect(exit.json().code).toBe('WEALTH_PRODUCT_LOCKED');
    expect((await h.ledger.verify()).ok).toBe(true);
  });

  it('answers 4xx, never 500, to impossible dates, rates, ids, yields and ranges, and stores none of them', async () => {
    const fund = await h.post('/v1/operator/wealth/products', {
      kind: 'money_fund',
      code: 'MMFBAD',
      name: 'bad',
    });
    const fundId = fund.json().id as string;
    const publish = (date: string, rate: string, id = fundId) =>
      h.post(`/v1/operator/wealth/products/${id}/daily-income`, { date, income_per_10k: rate });
    for (const [date, rate] of [
      ['2025-13-45', '1.0000'],
      ['2025-02-30', '1.0000'],
      ['2025-05-01', '-10.0001'],
      ['2025-05-01', '-20000.0000'],
      ['2025-05-01', '10.0001'],
      ['2025-05-01', '17120'],
    ] as const) {
      const r = await publish(date, rate);
      expect([date, rate, r.statusCode, r.json().code]).toEqual([date, rate, 400, 'VALIDATION_FAILED']);
    }
    const stored = await h.t.db.query('SELECT 1 FROM wealth_daily_rates WHERE product_id = $1', [fundId]);
    expect(stored.rowCount).toBe(0);
    expect((await publish('2025-05-01', '-10.0000')).statusCode).toBe(201);
    expect((await publish('2025-05-02', '10.0000')).statusCode).toBe(201);
    const remove = await h.post('/v1/operator/wealth/holidays/2025-02-30/remove', {});
    expect([remove.statusCode, remove.json().code]).toEqual([400, 'VALIDATION_FAILED']);

    // Reading yields needs a logged-in user only.
    await signUpOverHttp(h, '13912345679', 'password-1');
    const bob = (
      await h.post('/v1/sessions', { phone: '13912345679', password: 'password-1' }, { key: null })
    ).json() as {
      access_token: string;
    };
    for (const query of [
      'from=2025-13-45&to=2025-12-31',
      'from=2025-01-01&to=2025-00-00',
      'from=2024-01-01&to=2025-01-01',
    ]) {
      const user = await h.get(`/v1/wealth/products/${fundId}/yields?${query}`, bob.access_token);
      expect([query, user.statusCode, user.json().code]).toEqual([query, 400, 'VALIDATION_FAILED']);
      const operator = await h.get(`/v1/operator/wealth/products/${fundId}/yields?${query}`);
      expect([query, operator.statusCode]).toEqual([query, 400]);
    }
    // from after to was answered 200 with an empty list, as if nothing had been published.
    const reversed = 'yields?from=2025-05-02&to=2025-05-01';
    for (const answer of [
      await h.get(`/v1/wealth/products/${fundId}/${reversed}`, bob.access_token),
      await h.get(`/v1/operator/wealth/products/${fundId}/${reversed}`),
    ]) {
      expect(answer.statusCode, answer.body).toBe(400);
      expect(answer.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'from' });
    }
    expect(
      (await h.get(`/v1/wealth/products/${fundId}/yields?from=2024-01-01&to=2024-12-31`, bob.access_token))
        .statusCode,
    ).toBe(200);

    for (const id of ['a'.repeat(36), '-'.repeat(36)]) {
      const yields = await h.get(
        `/v1/wealth/products/${id}/yields?from=2025-01-01&to=2025-01-02`,
        bob.access_token,
      );
      expect([yields.statusCode, yields.json().code]).toEqual([404, 'WEALTH_PRODUCT_NOT_FOUND']);
      expect((await publish('2025-01-01', '1.0000', id)).statusCode).toBe(404);
    }

    for (const expected_yield of ['-3.25', '100.0001']) {
      const fixed = await h.post('/v1/operator/wealth/products', {
        kind: 'fixed_term',
        code: `FTBAD${expected_yield.length}`,
        name: 'bad yield',
        term_days: 30,
        expected_yield,
        roll_into_product_id: fundId,
      });
      expect([expected_yield, fixed.statusCode, fixed.json().code]).toEqual([
        expected_yield,
        400,
        'VALIDATION_FAILED',
      ]);
    }
  });

  it('refuses daily income for a day more than a year from today: a slipped year, not a rate', async () => {
    h.clock.set('2025-06-05T02:00:00Z'); // today is 2025-06-05 in Beijing
    const fund = await h.post('/v1/operator/wealth/products', {
      kind: 'money_fund',
      code: 'MMFYEAR',
      name: 'far dates',
    });
    const fundId = fund.json().id as string;
    const publish = (date: string) =>
      h.post(`/v1/operator/wealth/products/${fundId}/daily-income`, { date, income_per_10k: '1.7120' });
    // Each of these was 201, stored for good (another rate is a conflict) and paid by the close the
    // day it reached it.
    for (const date of ['0001-01-01', '9999-12-31', '2052-06-05', '2205-06-05', '1025-06-05', '2026-06-07']) {
      const r = await publish(date);
      expect([date, r.statusCode], r.body).toEqual([date, 400]);
      expect(r.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'date' });
      expect(r.json().detail).toMatch(/within 366 days of today \(2025-06-05\)/);
    }
    const stored = await h.t.db.query('SELECT 1 FROM wealth_daily_rates WHERE product_id = $1', [fundId]);
    expect(stored.rowCount).toBe(0);
    // A year either side is accepted: catching up on days missed and announcing ahead.
    for (const date of ['2024-06-04', '2025-06-04', '2025-06-05', '2025-06-06', '2026-06-06'])
      expect([date, (await publish(date)).statusCode]).toEqual([date, 201]);
  });

  it('needs the wealth:admin scope for operator routes', async () => {
    const key = await h.post('/v1/operator/api-keys', { name: 'reader', scopes: ['ledger:read'] });
    const plaintext = key.json().key as string;
    expect((await h.get('/v1/operator/wealth/products', plaintext)).statusCode).toBe(403);
  });
});
