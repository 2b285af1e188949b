import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';
import { newCustomer, scoreCustomer } from './support/customers.ts';
import { expectLedgerVerifies } from './support/ledger-verify.ts';

/**
 * The platform's own cash loan in the marketplace as the composition root wires it (the harness
 * uses the real lending module, no test double): priced from the lending products, ranked beside
 * the partners, and a chosen offer becomes a lending application whose offer the user accepts.
 */
let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});

const product = (code: string, annualRate: string) => ({
  code,
  name: `Cash ${code}`,
  schedule_type: 'equal_instalments',
  day_count: '30/360',
  annual_rate: annualRate,
  terms: [6, 12],
  min_amount: '100000',
  max_amount: '5000000',
  min_score: 350,
});

describe('the own cash loan among the marketplace offers', () => {
  it('quotes the cheapest fitting product, and choosing it applies for a loan the user can draw', async () => {
    for (const [code, rate] of [
      ['own-dear', '18'],
      ['own-cheap', '7.2'],
    ] as const) {
      const created = await h.post('/v1/operator/lending/products', product(code, rate));
      expect(created.statusCode, created.body).toBe(201);
    }
    const user = await newCustomer(h);
    await scoreCustomer(h, user);

    const applied = await h.post(
      '/v1/marketplace/applications',
      { amount: '1000000', term_months: 12, region_code: '310101' },
      { key: user.token },
    );
    expect(applied.statusCode, applied.body).toBe(201);
    const own = (applied.json().offers as JsonObject[]).find((o) => o.source === 'own')!;
    expect(own).toBeDefined();
    // Equal instalments at 7.2% (30/360) have an IRR of 0.6% a month: APR 7.20%, not the 18% product.
    expect(own.apr_bp).toBe(720);
    expect(own.amount).toBe('1000000');

    // No term of any product fits: no own offer.
    const noFit = await h.post(
      '/v1/marketplace/applications',
      { amount: '1000000', term_months: 24, region_code: '310101' },
      { key: user.token },
    );
    expect(noFit.statusCode, noFit.body).toBe(201);
    expect((noFit.json().offers as JsonObject[]).some((o) => o.source === 'own')).toBe(false);

    const chosen = await h.post(
      `/v1/marketplace/applications/${applied.json().id}/choose`,
      { offer_id: own.id, consent: { fields: [] } },
      { key: user.token },
    );
    expect(chosen.statusCode, chosen.body).toBe(201);
    expect(chosen.json().status).toBe('approved');
    expect(chosen.json().sent_fields).toEqual([]);

    // The lending module holds the offer the marketplace's post produced.
    const offers = await h.get('/v1/loans/offers', user.token);
    expect(offers.statusCode, offers.body).toBe(200);
    const loanOffer = (offers.json().items as JsonObject[]).find((o) => o.product_code === 'own-cheap')!;
    expect(loanOffer).toBeDefined();
    expect(loanOffer.amount).toBe('1000000');
    const before = BigInt((await h.get('/v1/wallet', user.token)).json().available as string);
    const accepted = await h.post(
      `/v1/loans/offers/${loanOffer.id}/accept`,
      { to: 'wallet' },
      { key: user.token },
    );
    expect(accepted.statusCode, accepted.body).toBe(201);
    const after = BigInt((await h.get('/v1/wallet', user.token)).json().available as string);
    expect(after - before).toBe(1_000_000n);
    // The loan now counts as an existing credit for the score's application model.
    expect(await h.lending.openLoanCounts([user.id])).toEqual(new Map([[user.id, 1]]));
    // Lending counts it (the composition root adds the two): the marketplace's count is of partners'
    // loans only, or this one loan was two existing credits, and one for ever once repaid.
    expect(await h.marketplace.existingCredits([user.id])).toEqual(new Map([[user.id, 0]]));
    expect((await h.marketplace.coDebt([user.id])).get(user.id)!.last90.loans).toBe(1);

    // The funnel shows the own lender's approval at the post and its disbursement once drawn.
    const funnelDay = async () => {
      const f = await h.get('/v1/operator/marketplace/partners/own/funnel?from=2025-06-01&to=2025-06-30');
      expect(f.statusCode, f.body).toBe(200);
      return f.json().items as JsonObject[];
    };
    expect(await funnelDay()).toEqual([
      {
        date: '2025-06-01',
        pinged: 2,
        offered: 1,
        chosen: 1,
        posted: 1,
        approved: 1,
        declined: 0,
        disbursed: 1,
        pass_rate: 1,
      },
    ]);
    // A retried accept tells the marketplace again; the disbursement is counted once.
    const again = await h.post(
      `/v1/loans/offers/${loanOffer.id}/accept`,
      { to: 'wallet' },
      { key: user.token },
    );
    expect(again.statusCode, again.body).toBe(201);
    expect((await funnelDay())[0]!.disbursed).toBe(1);

    // The approval taught the own loan's posterior, as a partner's callback would.
    const band = (await h.marketplace.posteriors('own')).reduce((n, p) => n + p.approvals, 0);
    expect(band).toBe(1);
    await expectLedgerVerifies(h);
  });
});
