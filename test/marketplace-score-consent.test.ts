import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PartnerSim } from '../src/marketplace/index.ts';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';
import { newCustomer, scoreCustomer } from './support/customers.ts';
import { simPartner } from './support/marketplace-partners.ts';

/**
 * The marketplace with the real score service (no test double for the applicant directory): a
 * lender's post carries the application's score band, so consent to credit scoring withdrawn
 * after the offers came back must stop the post.
 */
let h: ApiHarness;
const sims: PartnerSim[] = [];
let base = 'http://127.0.0.1:1';
beforeAll(async () => {
  h = await openApiHarness({ marketplace: { publicUrl: () => base, pingTimeoutMs: 1_500 } });
  base = (await h.app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
});
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
  await h?.close();
});

/** A lender in `region` taking every band (the sample application scores in band E). */
const lender = (region: string) =>
  simPartner(h, sims, {
    region,
    sim: { name: 'consent-lender', latencyMs: 5 },
    overrides: {
      eligibility: {
        score_bands: ['A', 'B', 'C', 'D', 'E'],
        regions: [region],
        min_amount: '100000',
        max_amount: '30000000',
        min_term_months: 3,
        max_term_months: 36,
      },
    },
  });

describe('marketplace posts and consent to credit scoring', () => {
  it('posts no score band to a lender once the consent is withdrawn, and posts again after a new score', async () => {
    const p = await lender('44');
    const user = await newCustomer(h);
    await scoreCustomer(h, user);
    const app = await h.post(
      '/v1/marketplace/applications',
      { amount: '5000000', term_months: 12, region_code: '440305' },
      { key: user.token },
    );
    expect(app.statusCode, app.body).toBe(201);
    const offer = (app.json().offers as JsonObject[]).find((o) => o.partner_id === p.id)!;
    expect(offer).toBeDefined();

    const withdrawn = await h.post('/v1/me/credit-consent/withdraw', {}, { key: user.token });
    expect(withdrawn.statusCode, withdrawn.body).toBe(200);
    const choice = {
      offer_id: offer.id,
      consent: { fields: ['real_name'] },
      applicant: { real_name: '周大福' },
    };
    const key = 'choose-after-withdrawal';
    const refused = await h.post(`/v1/marketplace/applications/${app.json().id}/choose`, choice, {
      key: user.token,
      idempotencyKey: key,
    });
    expect(refused.statusCode, refused.body).toBe(404);
    expect(refused.json()).toMatchObject({ code: 'CREDIT_SCORE_NOT_FOUND', reason: 'score_not_usable' });
    expect(p.sim.received.posts).toHaveLength(0);
    // No consent to share the fields was recorded for a post that was never made.
    expect((await h.get('/v1/marketplace/consents', user.token)).json().items).toHaveLength(0);

    // Granted again and scored again: the same request (same key, nothing was kept) goes through.
    await scoreCustomer(h, user);
    const chosen = await h.post(`/v1/marketplace/applications/${app.json().id}/choose`, choice, {
      key: user.token,
      idempotencyKey: key,
    });
    expect(chosen.statusCode, chosen.body).toBe(201);
    expect(p.sim.received.posts).toHaveLength(1);
    expect(p.sim.received.posts[0]!.applicant).toEqual({ real_name: '周大福' });
  });
});
