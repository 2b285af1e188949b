import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { populationStability } from '../src/credit/index.ts';
import { openApiHarness, type ApiHarness } from './support/api-harness.ts';
import { newCustomer } from './support/customers.ts';
import { newMerchant } from './support/merchants.ts';
import { getAllPages, type ApiClient, type Page } from '../web/src/shared/api.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});

const application = {
  amount: '500000',
  duration_months: 12,
  purpose: 'other',
  employment: '1_to_4_years',
  housing: 'rent',
};

describe('operator endpoints the console reads', () => {
  it('score distribution: each user once at the latest score, bands of 50, months and PSI', async () => {
    const empty = await h.get('/v1/operator/credit/score-distribution');
    expect(empty.statusCode, empty.body).toBe(200);
    expect(empty.json()).toMatchObject({ users: 0, mean: null, psi: null, months: [] });
    expect(empty.json().bands).toHaveLength(12);

    for (let i = 0; i < 2; i++) {
      const c = await newCustomer(h);
      expect((await h.post('/v1/me/credit-consent', {}, { key: c.token })).statusCode).toBe(201);
      expect((await h.post('/v1/me/score', { application }, { key: c.token })).statusCode).toBe(201);
      // A second score for the same user does not count the user twice.
      expect((await h.post('/v1/me/score', {}, { key: c.token })).statusCode).toBe(201);
    }
    const d = (await h.get('/v1/operator/credit/score-distribution')).json();
    expect(d.users).toBe(2);
    expect(d.bands.reduce((n: number, b: { count: number }) => n + b.count, 0)).toBe(2);
    expect(d.bands[0]).toMatchObject({ from: 350, to: 399 });
    expect(d.bands[11]).toMatchObject({ from: 900, to: 950 });
    expect(d.months).toHaveLength(1);
    expect(d.months[0].users).toBe(2);
    expect(d.psi).toBeNull();

    const readOnly = await h.post('/v1/operator/api-keys', { name: 'ledger only', scopes: ['ledger:read'] });
    const forbidden = await h.get('/v1/operator/credit/score-distribution', readOnly.json().key);
    expect(forbidden.statusCode).toBe(403);
  });

  it('PSI is 0 for the same shares and grows with a shift', () => {
    expect(populationStability([10, 20, 30], [1, 2, 3])).toBe(0);
    expect(populationStability([50, 50, 0], [0, 50, 50])).toBeGreaterThan(0.25);
  });

  it('fund AUM and the operator’s view of yields', async () => {
    const fund = await h.post('/v1/operator/wealth/products', {
      kind: 'money_fund',
      code: 'AUM1',
      name: '米宝',
    });
    expect(fund.statusCode, fund.body).toBe(201);
    const fundId = fund.json().id as string;
    const published = await h.post(`/v1/operator/wealth/products/${fundId}/daily-income`, {
      date: '2025-06-01',
      income_per_10k: '1.7120',
    });
    expect(published.statusCode, published.body).toBe(201);
    const yields = await h.get(`/v1/operator/wealth/products/${fundId}/yields?from=2025-06-01&to=2025-06-01`);
    expect(yields.statusCode, yields.body).toBe(200);
    expect(yields.json().items).toEqual([
      { date: '2025-06-01', income_per_10k: '1.7120', seven_day_yield: null },
    ]);

    const aum = await h.get('/v1/operator/wealth/aum');
    expect(aum.statusCode, aum.body).toBe(200);
    expect(aum.json().total).toMatch(/^\d+$/);
    const c = await newCustomer(h, { funds: 100_000n });
    const bought = await h.post(
      '/v1/wealth/subscriptions',
      { id: randomUUID(), product_id: fundId, amount: '50000' },
      { key: c.token },
    );
    expect(bought.statusCode, bought.body).toBe(201);
    expect((await h.get('/v1/operator/wealth/aum')).statusCode).toBe(200);
  });

  it('the console lists every merchant, past the first page, following the API’s cursors', async () => {
    const onboarded = [];
    for (let i = 0; i < 5; i++) onboarded.push((await newMerchant(h, `Paged ${i}`)).id);
    const requested: string[] = [];
    const api: ApiClient = {
      async get<T>(path: string) {
        requested.push(path);
        const answer = await h.get(path);
        expect(answer.statusCode, answer.body).toBe(200);
        return answer.json() as T;
      },
      post: () => Promise.reject(new Error('not used')),
    };
    // Pages of 2 stand in for the console's 500: one GET showed only the first page, so the
    // merchant onboarded after it never appeared in the list.
    const list = await getAllPages<Page<{ id: string }>>(api, '/v1/operator/merchants', { limit: 2 });
    expect(list.items.map((m) => m.id)).toEqual(expect.arrayContaining(onboarded));
    expect(new Set(list.items.map((m) => m.id)).size).toBe(list.items.length);
    expect(list.next_cursor).toBeNull();
    expect(requested.length).toBeGreaterThanOrEqual(3);
  });
});
