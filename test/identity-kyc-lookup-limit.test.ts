import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiHarness, type ApiHarness } from './support/api-harness.ts';
import { newCustomer } from './support/customers.ts';
import { makeResidentId } from './support/resident-ids.ts';

/**
 * RESIDENT_ID_ALREADY_REGISTERED tells whether the person with that ID is a customer: an account
 * gets a few of those answers a day, not a lookup service over ID numbers.
 */
let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});

describe('identity verification naming IDs verified for others', () => {
  it('answers 409 five times in 24 hours, then 429 with Retry-After; a correct verification still goes through later', async () => {
    const registered = [1, 2, 3, 4, 5, 6].map((n) => makeResidentId('310101', '19900101', `12${n}`));
    for (const residentId of registered) {
      const owner = await newCustomer(h, { verify: false });
      const verified = await h.post(
        '/v1/me/identity',
        { real_name: '王五', resident_id: residentId, account_class: 'II' },
        { key: owner.token },
      );
      expect(verified.statusCode, verified.body).toBe(200);
    }
    const prober = await newCustomer(h, { verify: false });
    const attempt = (residentId: string) =>
      h.post(
        '/v1/me/identity',
        { real_name: '赵六', resident_id: residentId, account_class: 'II' },
        { key: prober.token },
      );
    for (const residentId of registered.slice(0, 5)) {
      const taken = await attempt(residentId);
      expect(taken.statusCode, taken.body).toBe(409);
      expect(taken.json().code).toBe('RESIDENT_ID_ALREADY_REGISTERED');
    }
    const limited = await attempt(registered[5]!);
    expect(limited.statusCode, limited.body).toBe(429);
    expect(limited.json().code).toBe('RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(23 * 3600);
    // The limit is the prober's own: another user verifying is not refused.
    const other = await newCustomer(h, { verify: false });
    const own = makeResidentId('310101', '19900101', '131');
    const fine = await h.post(
      '/v1/me/identity',
      { real_name: '钱七', resident_id: own, account_class: 'II' },
      { key: other.token },
    );
    expect(fine.statusCode, fine.body).toBe(200);

    // A day later the prober may verify with their own ID.
    h.clock.advance(24 * 3_600_000 + 1_000);
    const relogged = await h.post(
      '/v1/sessions',
      { phone: prober.phone, password: 'password-1' },
      { key: null },
    );
    const token = relogged.json().access_token as string;
    const mine = await h.post(
      '/v1/me/identity',
      { real_name: '赵六', resident_id: makeResidentId('310101', '19900101', '141'), account_class: 'II' },
      { key: token },
    );
    expect(mine.statusCode, mine.body).toBe(200);
  });
});
