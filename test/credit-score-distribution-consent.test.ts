import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiHarness, type ApiHarness } from './support/api-harness.ts';
import { newCustomer } from './support/customers.ts';

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

async function consent(token: string) {
  const r = await h.post('/v1/me/credit-consent', {}, { key: token });
  expect(r.statusCode, r.body).toBe(201);
}
async function withdraw(token: string) {
  const r = await h.post('/v1/me/credit-consent/withdraw', {}, { key: token });
  expect(r.statusCode, r.body).toBe(200);
}
async function score(token: string): Promise<number> {
  const r = await h.post('/v1/me/score', { application }, { key: token });
  expect(r.statusCode, r.body).toBe(201);
  return r.json().score as number;
}

describe('operator score distribution and consent', () => {
  it('counts only scores computed under the consent in force, in the latest view and in the months', async () => {
    // In use: consented and scored.
    const kept = await newCustomer(h);
    await consent(kept.token);
    const keptScore = await score(kept.token);

    // Withdrawn: the score stays on record but is no longer used.
    const gone = await newCustomer(h);
    await consent(gone.token);
    await score(gone.token);
    await withdraw(gone.token);

    // Granted again without a new score: the earlier consent's score decides nothing.
    const regranted = await newCustomer(h);
    await consent(regranted.token);
    await score(regranted.token);
    await withdraw(regranted.token);
    await consent(regranted.token);

    // Granted again and scored again: counted once, at the new score.
    const rescored = await newCustomer(h);
    await consent(rescored.token);
    await score(rescored.token);
    await withdraw(rescored.token);
    await consent(rescored.token);
    const rescoredScore = await score(rescored.token);

    const r = await h.get('/v1/operator/credit/score-distribution');
    expect(r.statusCode, r.body).toBe(200);
    const d = r.json();
    expect(d.users).toBe(2);
    expect(d.mean).toBe(Math.round(((keptScore + rescoredScore) / 2) * 10) / 10);
    expect(d.bands.reduce((n: number, b: { count: number }) => n + b.count, 0)).toBe(2);
    expect(d.months).toHaveLength(1);
    expect(d.months[0].users).toBe(2);
    expect(d.months[0].bands.reduce((n: number, c: number) => n + c, 0)).toBe(2);
  });
});
