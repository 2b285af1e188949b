import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MilletError } from '../src/core/index.ts';
import type { PartnerSim, PartnerSimOptions } from '../src/marketplace/index.ts';
import { openApiHarness, type ApiHarness } from './support/api-harness.ts';
import { newCustomer } from './support/customers.ts';
import { simPartner, type PartnerOverrides } from './support/marketplace-partners.ts';

/**
 * A partner's daily cap and monthly budget hold when many offers of it are chosen at once: each
 * application was routed while the partner had room (as applications routed side by side are), so
 * only the choice can keep the posts within the limits. Each test uses its own region code.
 */
let h: ApiHarness;
const sims: PartnerSim[] = [];

beforeAll(async () => {
  h = await openApiHarness({
    marketplace: {
      applicants: {
        async profile() {
          return { verified: true, ageYears: 30, identityClass: 'II', score: 720 };
        },
      },
      pingTimeoutMs: 1_500,
      seed: 11,
      publicUrl: () => base,
    },
  });
  base = (await h.app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
});
let base = 'http://127.0.0.1:1';

afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
  await h?.close();
});

const partner = (region: string, sim: Omit<PartnerSimOptions, 'secret'>, overrides: PartnerOverrides) =>
  simPartner(h, sims, { region, sim, overrides, name: 'capped' });

/** `n` applications routed while the partner has room, each with an offer of it. */
async function routed(region: string, partnerId: string, n: number) {
  const apps = await Promise.all(
    Array.from({ length: n }, async () => {
      const userId = randomUUID();
      const app = await h.marketplace.apply({
        userId,
        product: 'loan',
        amount: 1_000_000n,
        termMonths: 6,
        regionCode: region,
      });
      const offer = app.offers.find((o) => o.partnerId === partnerId);
      expect(offer, JSON.stringify(app.routing)).toBeDefined();
      return { userId, app, offer: offer! };
    }),
  );
  return apps;
}

/** Every application chosen at once; the choices that were refused, by code and limit. */
async function chooseAll(apps: Awaited<ReturnType<typeof routed>>) {
  const settled = await Promise.allSettled(
    apps.map(({ userId, app, offer }) =>
      h.marketplace.choose({
        userId,
        applicationId: app.id,
        offerId: offer.id,
        consentFields: ['real_name'],
        applicant: { real_name: '王小明' },
      }),
    ),
  );
  const refused = settled.flatMap((s, i) => {
    if (s.status === 'fulfilled') return [];
    const e = s.reason as unknown;
    expect(e).toBeInstanceOf(MilletError);
    return [{ app: apps[i]!.app, code: (e as MilletError).code, details: (e as MilletError).details }];
  });
  return { posted: settled.length - refused.length, refused };
}

const countRows = async (sql: string, params: unknown[]) =>
  Number((await h.t.db.query<{ n: bigint }>(sql, params)).rows[0]!.n);

describe('partner limits under concurrent choices', () => {
  it('posts exactly the daily cap when more of its offers are chosen at once', async () => {
    const region = '620102';
    const K = 3;
    const N = 8;
    const p = await partner(
      '62',
      { latencyMs: 5, approvalByBand: { B: 1 }, disburse: false },
      { daily_cap: K },
    );
    const apps = await routed(region, p.id, N);
    const { posted, refused } = await chooseAll(apps);
    expect(posted).toBe(K);
    expect(p.sim.received.posts).toHaveLength(K);
    expect(refused).toHaveLength(N - K);
    for (const r of refused) {
      expect(r.code).toBe('MARKETPLACE_PARTNER_AT_CAPACITY');
      expect(r.details).toMatchObject({ partner_id: p.id, limit: 'daily_cap' });
      // Nothing of the refused choice was written: the application may take another offer.
      expect((await h.marketplace.getApplication(r.app.id)).status).toBe('offered');
    }
    expect(
      await countRows('SELECT count(*)::int8 AS n FROM marketplace_consents WHERE partner_id = $1', [p.id]),
    ).toBe(K);

    // Routing reads the cap as reached from the posts that were made.
    const next = await h.marketplace.apply({
      userId: randomUUID(),
      product: 'loan',
      amount: 1_000_000n,
      termMonths: 6,
      regionCode: region,
    });
    expect(next.routing.find((l) => l.partnerId === p.id)?.outcome).toBe('daily_cap_reached');
  });

  it('answers a choice past the cap with 409 MARKETPLACE_PARTNER_AT_CAPACITY over HTTP', async () => {
    const region = '620103';
    const p = await partner(
      '62',
      { latencyMs: 5, approvalByBand: { B: 1 }, disburse: false },
      { daily_cap: 1 },
    );
    const user = await newCustomer(h);
    const offers: Array<{ appId: string; offerId: string }> = [];
    for (let i = 0; i < 2; i++) {
      const app = await h.post(
        '/v1/marketplace/applications',
        { amount: '1000000', term_months: 6, region_code: region },
        { key: user.token },
      );
      expect(app.statusCode, app.body).toBe(201);
      const offer = (app.json().offers as Array<{ id: string; partner_id: string }>).find(
        (o) => o.partner_id === p.id,
      )!;
      offers.push({ appId: app.json().id as string, offerId: offer.id });
    }
    const choose = (o: { appId: string; offerId: string }) =>
      h.post(
        `/v1/marketplace/applications/${o.appId}/choose`,
        { offer_id: o.offerId, consent: { fields: ['real_name'] }, applicant: { real_name: '张三' } },
        { key: user.token },
      );
    expect((await choose(offers[0]!)).statusCode).toBe(201);
    const refused = await choose(offers[1]!);
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect(refused.json()).toMatchObject({
      code: 'MARKETPLACE_PARTNER_AT_CAPACITY',
      partner_id: p.id,
      limit: 'daily_cap',
    });
    expect(p.sim.received.posts).toHaveLength(1);
  });

  it('gives a failed post’s place under the cap back', async () => {
    const region = '620104';
    const p = await partner(
      '62',
      { latencyMs: 5, approvalByBand: { B: 1 }, disburse: false, failPosts: 1 },
      { daily_cap: 1 },
    );
    const [first, second] = await routed(region, p.id, 2);
    const choose = (a: typeof first) =>
      h.marketplace.choose({
        userId: a!.userId,
        applicationId: a!.app.id,
        offerId: a!.offer.id,
        consentFields: ['real_name'],
        applicant: { real_name: '王小明' },
      });
    await expect(choose(first)).rejects.toMatchObject({ code: 'MARKETPLACE_PARTNER_UNAVAILABLE' });
    // The failed post holds nothing: the one place today is there for the next choice.
    await expect(choose(second)).resolves.toMatchObject({ status: 'posted' });
    await expect(choose(first)).rejects.toMatchObject({
      code: 'MARKETPLACE_PARTNER_AT_CAPACITY',
      details: { limit: 'daily_cap' },
    });
  });

  it('posts only what the monthly budget covers when more of its offers are chosen at once', async () => {
    const region = '620105';
    // Each post may earn CPA 1,000.00 + CPS 1% of 10,000.00 = 110.00 CNY; the budget covers two and
    // a half of them.
    const payout = 1_000n + 10_000n;
    const K = 2;
    const N = 7;
    const p = await partner(
      '62',
      { latencyMs: 5, approvalByBand: { B: 1 }, disburse: false },
      {
        pricing: { cpa: '1000', cps_bp: 100, revenue_share_bp: 0 },
        monthly_budget: (payout * BigInt(K) + payout / 2n).toString(),
      },
    );
    const apps = await routed(region, p.id, N);
    const { posted, refused } = await chooseAll(apps);
    expect(posted).toBe(K);
    expect(p.sim.received.posts).toHaveLength(K);
    expect(refused).toHaveLength(N - K);
    for (const r of refused) {
      expect(r.code).toBe('MARKETPLACE_PARTNER_AT_CAPACITY');
      expect(r.details).toMatchObject({ partner_id: p.id, limit: 'monthly_budget' });
    }
    // The open posts hold the budget before any fee is recorded: routing stops pinging at once.
    const pings = p.sim.received.pings.length;
    const next = await h.marketplace.apply({
      userId: randomUUID(),
      product: 'loan',
      amount: 1_000_000n,
      termMonths: 6,
      regionCode: region,
    });
    expect(next.routing.find((l) => l.partnerId === p.id)?.outcome).toBe('monthly_budget_spent');
    expect(p.sim.received.pings).toHaveLength(pings);
  });

  it('stops a revenue-share-only partner whose recorded fees equal its monthly budget', async () => {
    const region = '620106';
    // Paid only a share of repaid interest, the partner's payout is 0 at routing and at the choice:
    // only fees recorded fill its budget, and a budget they fill exactly has no room left.
    const p = await partner(
      region,
      { latencyMs: 5, approvalByBand: { B: 1 } },
      { pricing: { cpa: '0', cps_bp: 0, revenue_share_bp: 1000 }, monthly_budget: '1000' },
    );
    const apply = async (user: { token: string }) => {
      const app = await h.post(
        '/v1/marketplace/applications',
        { amount: '1000000', term_months: 6, region_code: region },
        { key: user.token },
      );
      expect(app.statusCode, app.body).toBe(201);
      const body = app.json() as { id: string; offers: Array<{ id: string; partner_id: string }> };
      return { id: body.id, offer: body.offers.find((o) => o.partner_id === p.id) };
    };
    const choose = (user: { token: string }, app: { id: string; offer?: { id: string } }) =>
      h.post(
        `/v1/marketplace/applications/${app.id}/choose`,
        { offer_id: app.offer!.id, consent: { fields: ['real_name'] }, applicant: { real_name: '张三' } },
        { key: user.token },
      );
    // Both routed while the budget is untouched, so each has an offer of the partner.
    const [first, second] = [await newCustomer(h), await newCustomer(h)];
    const firstApp = await apply(first);
    const secondApp = await apply(second);
    expect(firstApp.offer).toBeDefined();
    expect(secondApp.offer).toBeDefined();

    const posted = await choose(first, firstApp);
    expect(posted.statusCode, posted.body).toBe(201);
    await p.sim.idle();
    // Approved and disbursed: nothing earned yet. Then 100.00 CNY of interest is repaid, through the
    // partner's signed callback: a 10% share, 10.00 CNY, is recorded, the whole budget.
    expect(p.sim.callbacks.map((c) => [c.body.type, c.status])).toEqual([
      ['approved', 200],
      ['disbursed', 200],
    ]);
    expect(await p.sim.repay(firstApp.id, 10_000n, 10_000n)).toBe(200);
    expect(
      await countRows(
        'SELECT coalesce(sum(fee_fen), 0)::int8 AS n FROM marketplace_callbacks WHERE partner_id = $1',
        [p.id],
      ),
    ).toBe(1_000);

    const pings = p.sim.received.pings.length;
    const third = await h.marketplace.apply({
      userId: randomUUID(),
      product: 'loan',
      amount: 1_000_000n,
      termMonths: 6,
      regionCode: region,
    });
    expect(third.routing.find((l) => l.partnerId === p.id)).toMatchObject({
      outcome: 'monthly_budget_spent',
      reason: '1000/1000 fen this month',
    });
    expect(p.sim.received.pings).toHaveLength(pings);

    const refused = await choose(second, secondApp);
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json()).toMatchObject({
      code: 'MARKETPLACE_PARTNER_AT_CAPACITY',
      partner_id: p.id,
      limit: 'monthly_budget',
    });
    expect(p.sim.received.posts).toHaveLength(1);
  });
});
