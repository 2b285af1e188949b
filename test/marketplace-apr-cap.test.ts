import http from 'node:http';
import { businessDate } from '../src/core/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PartnerSim } from '../src/marketplace/index.ts';
import { generateWebhookSecret } from '../src/webhooks/index.ts';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';
import { newCustomer } from './support/customers.ts';
import { registerPartner, simPartner } from './support/marketplace-partners.ts';

/**
 * The 24% APR ceiling on partner offers (DESIGN §2.4, PBoC Announcement [2021] No. 3): an offer
 * above it is never shown nor posted, and the operator's routing view says why. Each test has its
 * own region, so no test's partner sees another's pings.
 */
let h: ApiHarness;
let score = 720;
const sims: PartnerSim[] = [];
const servers: http.Server[] = [];
let base = 'http://127.0.0.1:1';

beforeAll(async () => {
  h = await openApiHarness({
    marketplace: {
      applicants: {
        async profile() {
          return { verified: true, ageYears: 30, identityClass: 'II', score };
        },
      },
      pingTimeoutMs: 1_500,
      publicUrl: () => base,
    },
  });
  base = (await h.app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
});

afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await h?.close();
});

const allBands = (region: string) => ({
  eligibility: {
    score_bands: ['A', 'B', 'C', 'D', 'E'],
    regions: [region],
    min_amount: '100000',
    max_amount: '30000000',
    min_term_months: 3,
    max_term_months: 36,
  },
});

async function apply(token: string, region: string): Promise<JsonObject> {
  const app = await h.post(
    '/v1/marketplace/applications',
    { amount: '5000000', term_months: 12, region_code: region },
    { key: token },
  );
  expect(app.statusCode, app.body).toBe(201);
  return app.json();
}

async function routingLine(applicationId: string, partnerId: string): Promise<JsonObject | undefined> {
  const view = await h.get(`/v1/operator/marketplace/applications/${applicationId}`);
  expect(view.statusCode, view.body).toBe(200);
  return (view.json().routing as JsonObject[]).find((l) => l.partner_id === partnerId);
}

describe('partner offers above the 24% APR cap', () => {
  it('shows no offer of a partner answering above the cap, and the routing says why', async () => {
    score = 720;
    const region = '650102';
    const dear = await simPartner(h, sims, {
      region: '650102',
      name: 'dear',
      sim: { latencyMs: 5, aprBpByBand: { A: 3000, B: 3000, C: 3000, D: 3000, E: 3000 } },
    });
    const lawful = await simPartner(h, sims, { region: '650102', name: 'lawful', sim: { latencyMs: 5 } });
    const user = await newCustomer(h);

    const app = await apply(user.token, region);
    const offers = app.offers as JsonObject[];
    expect(dear.sim.received.pings).toHaveLength(1);
    expect(offers.filter((o) => o.partner_id === dear.id)).toEqual([]);
    expect(offers.find((o) => o.partner_id === lawful.id)).toMatchObject({ apr_bp: 1080 });
    for (const o of offers) expect(o.apr_bp as number).toBeLessThanOrEqual(2400);

    expect(await routingLine(app.id as string, dear.id)).toMatchObject({
      outcome: 'apr_above_cap',
      reason: 'offered 30.00% APR, above the 24.00% cap: not shown',
      latency_ms: expect.any(Number),
    });
    expect((await routingLine(app.id as string, lawful.id))?.outcome).toBe('offered');
    // The funnel counts offers shown: the dear partner's ping showed none.
    const today = businessDate(h.clock);
    const funnel = await h.get(
      `/v1/operator/marketplace/partners/${dear.id}/funnel?from=${today}&to=${today}`,
    );
    expect(funnel.statusCode, funnel.body).toBe(200);
    const items = funnel.json().items as Array<{ pinged: number; offered: number }>;
    expect(items.reduce((n, d) => n + d.pinged, 0)).toBe(1);
    expect(items.reduce((n, d) => n + d.offered, 0)).toBe(0);
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain(
      `millet_marketplace_routing_total{partner="${dear.id}",outcome="apr_above_cap"} 1`,
    );
  });

  it('keeps the offers within the cap of a partner that also made one above it', async () => {
    score = 720;
    const region = '650202';
    const secret = generateWebhookSecret();
    const server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        const ping = JSON.parse(raw || '{}') as JsonObject;
        const offer = (ref: string, apr: number) => ({
          offer_ref: ref,
          amount: ping.amount,
          apr_bp: apr,
          term_months: ping.term_months,
        });
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ offers: [offer('cheap', 2400), offer('dear', 2401)] }));
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const id = await registerPartner(h, { region, url, secret, name: 'mixed' });
    const user = await newCustomer(h);

    const app = await apply(user.token, region);
    expect((app.offers as JsonObject[]).filter((o) => o.partner_id === id).map((o) => o.apr_bp)).toEqual([
      2400,
    ]);
    expect(await routingLine(app.id as string, id)).toMatchObject({
      outcome: 'offered',
      reason: 'offered 24.01% APR, above the 24.00% cap: not shown',
    });
  });

  it("gives band E lawful offers from the partner-sim's defaults", async () => {
    score = 550; // band E
    const region = '650302';
    const sim = await simPartner(h, sims, {
      region,
      name: 'band-e',
      sim: { latencyMs: 5 },
      overrides: allBands(region),
    });
    const user = await newCustomer(h);

    const app = await apply(user.token, region);
    expect(sim.sim.received.pings.map((p) => p.score_band)).toEqual(['E']);
    expect((app.offers as JsonObject[]).find((o) => o.partner_id === sim.id)).toMatchObject({
      apr_bp: 2400,
    });
  });

  it('refuses a choice of an offer above the cap stored earlier, and posts nothing', async () => {
    score = 720;
    const region = '650402';
    const p = await simPartner(h, sims, { region, name: 'stored', sim: { latencyMs: 5 } });
    const user = await newCustomer(h);
    const app = await apply(user.token, region);
    const offer = (app.offers as JsonObject[]).find((o) => o.partner_id === p.id)!;
    expect(offer).toBeDefined();
    // As stored by a version that passed any apr_bp up to 10,000 through.
    await h.t.db.query('UPDATE marketplace_offers SET apr_bp = 3550 WHERE id = $1', [offer.id]);

    const refused = await h.post(
      `/v1/marketplace/applications/${app.id as string}/choose`,
      { offer_id: offer.id, consent: { fields: ['real_name'] }, applicant: { real_name: '周大福' } },
      { key: user.token },
    );
    expect(refused.statusCode, refused.body).toBe(422);
    expect(refused.json()).toMatchObject({
      code: 'APR_ABOVE_CAP',
      offer_id: offer.id,
      apr_bp: 3550,
      cap_bp: 2400,
    });
    expect(p.sim.received.posts).toHaveLength(0);
    expect((await h.get('/v1/marketplace/consents', user.token)).json().items).toHaveLength(0);
    const after = await h.get(`/v1/operator/marketplace/applications/${app.id as string}`);
    expect(after.json().status).toBe('offered');
  });
});
