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

/** A user signed up and logged in; verified with this birth date unless null; with a wallet. */
const customer = (birth: string | null = '19900307'): Promise<Customer> =>
  newCustomer(h, birth ? { birth } : { verify: false, wallet: false });

const application = {
  amount: '1500000',
  duration_months: 12,
  purpose: 'used_car',
  employment: '1_to_4_years',
  housing: 'rent',
};

const scoreNow = (token: string, body: JsonObject = { application }, headers: Record<string, string> = {}) =>
  h.request({
    method: 'POST',
    url: '/v1/me/score',
    body,
    headers: { authorization: `Bearer ${token}`, 'idempotency-key': crypto.randomUUID(), ...headers },
  });

describe('the credit score over HTTP', () => {
  it('consent first; 350–950 with four reasons in en and zh-CN; withdrawal stops scoring, keeps history', async () => {
    const u = await customer();
    const refused = await scoreNow(u.token);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('CONSENT_REQUIRED');

    const consent = await h.post('/v1/me/credit-consent', {}, { key: u.token });
    expect(consent.statusCode, consent.body).toBe(201);
    expect(consent.json()).toMatchObject({ scope: 'credit_scoring', active: true, withdrawn_at: null });
    expect(consent.json().data_categories).toContain('application_answers');

    const scored = await scoreNow(u.token);
    expect(scored.statusCode, scored.body).toBe(201);
    const s = scored.json();
    expect(s.score).toBeGreaterThanOrEqual(350);
    expect(s.score).toBeLessThanOrEqual(950);
    expect(s.model).toBe('application');
    expect(s.language).toBe('en');
    expect(s.reasons).toHaveLength(4);
    for (const r of s.reasons) {
      expect(r.text).toBe(r.text_en);
      expect(r.text_zh).toMatch(/[\u4e00-\u9fff]/);
    }

    const why = await h.request({
      method: 'GET',
      url: '/v1/me/score',
      headers: { authorization: `Bearer ${u.token}`, 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8' },
    });
    expect(why.statusCode).toBe(200);
    expect(why.headers['content-language']).toBe('zh-CN');
    expect(why.json().id).toBe(s.id);
    expect(why.json().reasons.map((r: JsonObject) => r.text)).toEqual(
      s.reasons.map((r: JsonObject) => r.text_zh),
    );

    // A second score without answers reuses the last ones: same inputs, same score.
    const again = await scoreNow(u.token, {}, { 'accept-language': 'en-US' });
    expect(again.json().score).toBe(s.score);
    expect(again.json().features_hash).toBe(s.features_hash);
    const history = await h.get('/v1/me/score/history', u.token);
    expect(history.json().items).toHaveLength(2);

    const withdrawn = await h.post('/v1/me/credit-consent/withdraw', {}, { key: u.token });
    expect(withdrawn.statusCode, withdrawn.body).toBe(200);
    expect(withdrawn.json()).toMatchObject({ active: false, history_kept: true });
    expect((await scoreNow(u.token)).json().code).toBe('CONSENT_REQUIRED');
    expect((await h.get('/v1/me/score/history', u.token)).json().items).toHaveLength(2);
    const records = (await h.get('/v1/me/credit-consent', u.token)).json();
    expect(records).toMatchObject({ active: false });
    expect(records.records).toHaveLength(1);

    // Operators read the history with credit:read.
    const operator = await h.get(`/v1/operator/credit/users/${u.id}/scores`);
    expect(operator.statusCode, operator.body).toBe(200);
    expect(operator.json().items).toHaveLength(2);
    const readOnly = await h.post('/v1/operator/api-keys', { name: 'ledger only', scopes: ['ledger:read'] });
    const forbidden = await h.get(`/v1/operator/credit/users/${u.id}/scores`, readOnly.json().key);
    expect(forbidden.statusCode).toBe(403);
    // A user token is not an operator key.
    expect((await h.get(`/v1/operator/credit/users/${u.id}/scores`, u.token)).statusCode).toBe(401);
  });

  it('refuses unverified and under-18 users, validates the answers, 404 before a first score', async () => {
    const unverified = await customer(null);
    const a = await h.post('/v1/me/credit-consent', {}, { key: unverified.token });
    expect(a.statusCode).toBe(403);
    expect(a.json().code).toBe('IDENTITY_NOT_VERIFIED');
    expect((await scoreNow(unverified.token)).json().code).toBe('IDENTITY_NOT_VERIFIED');

    const minor = await customer('20100101'); // 15 on the harness clock's 2025-06-01
    const b = await h.post('/v1/me/credit-consent', {}, { key: minor.token });
    expect(b.statusCode).toBe(403);
    expect(b.json().code).toBe('CREDIT_UNDERAGE');
    expect((await scoreNow(minor.token)).json().code).toBe('CREDIT_UNDERAGE');

    const u = await customer();
    expect((await h.post('/v1/me/credit-consent', {}, { key: u.token })).statusCode).toBe(201);
    expect((await h.get('/v1/me/score', u.token)).json().code).toBe('CREDIT_SCORE_NOT_FOUND');
    expect((await scoreNow(u.token, {})).json().code).toBe('CREDIT_APPLICATION_REQUIRED');
    const bad = await scoreNow(u.token, { application: { ...application, purpose: 'holiday' } });
    expect(bad.statusCode).toBe(400);
    const noConsentNeededToRead = await h.post('/v1/me/credit-consent/withdraw', {}, { key: u.token });
    expect(noConsentNeededToRead.statusCode).toBe(200);
    const never = await customer();
    const missing = await h.post('/v1/me/credit-consent/withdraw', {}, { key: never.token });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('CONSENT_NOT_FOUND');
  });

  it('a tampered history cursor is a 400 problem, not a 500', async () => {
    const u = await customer();
    await h.post('/v1/me/credit-consent', {}, { key: u.token });
    await scoreNow(u.token);
    await scoreNow(u.token);
    const first = (await h.get('/v1/me/score/history?limit=1', u.token)).json();
    const [, id] = Buffer.from(first.next_cursor, 'base64url').toString('utf8').split('|');
    for (const at of [
      '+275760-09-13T00:00:00.000Z',
      '-271821-04-20T00:00:00.000Z',
      '0000-01-01T00:00:00.000Z',
    ]) {
      const cursor = Buffer.from(`${at}|${id}`).toString('base64url');
      const page = await h.get(`/v1/me/score/history?cursor=${cursor}`, u.token);
      expect(page.statusCode, `${at}: ${page.body}`).toBe(400);
      expect(page.json().code).toBe('VALIDATION_FAILED');
    }
    const next = await h.get(`/v1/me/score/history?limit=1&cursor=${first.next_cursor}`, u.token);
    expect(next.statusCode, next.body).toBe(200);
    expect(next.json().items).toHaveLength(1);
  });

  it('the monthly refresh scores consenting users over the real identity and wallet', async () => {
    const u = await customer();
    await h.post('/v1/me/credit-consent', {}, { key: u.token });
    const first = (await scoreNow(u.token)).json();
    h.clock.set('2025-07-01T02:00:00Z');
    const report = await h.credit.refreshScores({ businessDate: '2025-07-01' });
    expect(report.status).toBe('completed');
    expect(report.scored).toBeGreaterThanOrEqual(1);
    // (The access token has expired by now: read through the service.)
    const latest = await h.credit.getLatestScore(u.id);
    expect(latest).toMatchObject({ trigger: 'refresh', businessDate: '2025-07-01', score: first.score });
    expect((await h.credit.refreshScores({ businessDate: '2025-07-01' })).alreadyCompleted).toBe(true);
  });
});
