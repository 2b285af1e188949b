import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateWebhookSecret, signWebhook } from '../src/webhooks/index.ts';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';
import { registerPartner } from './support/marketplace-partners.ts';

/**
 * A partner's monthly budget across a month's end: each post's payout counts once, in the month
 * its fee is recorded, and while the post is open as a hold on the month being checked. The
 * partners are small hand-written servers that answer posts `received` and call back only when
 * the test sends their callback, at the business time the test sets.
 */
let h: ApiHarness;
let base = 'http://127.0.0.1:1';
const servers: http.Server[] = [];

beforeAll(async () => {
  h = await openApiHarness({
    marketplace: {
      applicants: {
        async profile() {
          return { verified: true, ageYears: 30, identityClass: 'II', score: 720 };
        },
      },
      pingTimeoutMs: 1_500,
      seed: 5,
      publicUrl: () => base,
    },
  });
  base = (await h.app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
});

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await h?.close();
});

/** Each post may earn CPA 10.00 + CPS 1% of 1,000.00 = 20.00 CNY. */
const AMOUNT = 100_000n;
const PAYOUT = 1_000n + 1_000n;

async function partner(region: string, monthlyBudget: bigint): Promise<{ id: string; secret: string }> {
  const secret = generateWebhookSecret();
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as JsonObject;
      const json = (value: unknown) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (req.url === '/ping')
        json({
          offers: [{ offer_ref: 'off_1', amount: body.amount, apr_bp: 900, term_months: body.term_months }],
        });
      else if (req.url === '/post') json({ status: 'received', partner_ref: 'r1' });
      else res.writeHead(404).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const id = await registerPartner(h, {
    region,
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    secret,
    name: 'month-end',
    overrides: {
      // From 100.00 CNY: the shared default starts at 1,000.00, exactly the amount applied for here.
      eligibility: {
        score_bands: ['A', 'B', 'C', 'D'],
        regions: [region],
        min_amount: '10000',
        max_amount: '30000000',
        min_term_months: 3,
        max_term_months: 36,
      },
      pricing: { cpa: '1000', cps_bp: 100, revenue_share_bp: 0 },
      monthly_budget: monthlyBudget.toString(),
    },
  });
  return { id, secret };
}

async function routed(region: string) {
  const userId = randomUUID();
  const app = await h.marketplace.apply({
    userId,
    product: 'loan',
    amount: AMOUNT,
    termMonths: 6,
    regionCode: region,
  });
  return { userId, app };
}

const choose = ({ userId, app }: Awaited<ReturnType<typeof routed>>, partnerId: string) =>
  h.marketplace.choose({
    userId,
    applicationId: app.id,
    offerId: app.offers.find((o) => o.partnerId === partnerId)!.id,
    consentFields: ['real_name'],
    applicant: { real_name: '王小明' },
  });

async function callback(p: { id: string; secret: string }, payload: unknown): Promise<void> {
  const body = JSON.stringify(payload);
  const id = `msg_${randomUUID()}`;
  const ts = Math.floor(Date.now() / 1000);
  const answer = await h.request({
    method: 'POST',
    url: `/v1/marketplace/partner-callbacks/${p.id}`,
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(ts),
      'webhook-signature': signWebhook(p.secret, id, ts, body),
    },
  });
  expect(answer.statusCode, answer.body).toBe(200);
}

const outcome = (app: Awaited<ReturnType<typeof routed>>['app'], partnerId: string) =>
  app.routing.find((l) => l.partnerId === partnerId)?.outcome;

describe('a partner budget across a month end', () => {
  it('counts a post made on the 31st once: its fee on the 1st, and what it may still earn, in the new month', async () => {
    // A budget of two payouts less a fen (tight) and of exactly two (exact), side by side.
    const tight = await partner('630102', 2n * PAYOUT - 1n);
    const exact = await partner('630103', 2n * PAYOUT);

    // 30 June, 23:30 in Shanghai: two applications each routed to both partners while there is
    // room; the first is chosen, so its post holds a payout of June's budget.
    h.clock.set('2025-06-30T15:30:00Z');
    const apps = {
      tight: [await routed('630102'), await routed('630102')],
      exact: [await routed('630103'), await routed('630103')],
    };
    for (const [p, [first]] of [
      [tight, apps.tight],
      [exact, apps.exact],
    ] as const) {
      expect(outcome(first!.app, p.id)).toBe('offered');
      await expect(choose(first!, p.id)).resolves.toMatchObject({ status: 'posted' });
    }

    // 1 July, 00:30 in Shanghai: each first post is approved, its CPA recorded in July; its CPS
    // (disbursement to come) is still held.
    h.clock.set('2025-06-30T16:30:00Z');
    for (const [p, [first]] of [
      [tight, apps.tight],
      [exact, apps.exact],
    ] as const)
      await callback(p, { type: 'approved', application_id: first!.app.id });

    // July counts the first post once (CPA recorded + CPS held = one payout): a second payout
    // passes the tight budget by a fen and fits the exact one.
    await expect(choose(apps.tight[1]!, tight.id)).rejects.toMatchObject({
      code: 'MARKETPLACE_PARTNER_AT_CAPACITY',
      details: { partner_id: tight.id, limit: 'monthly_budget' },
    });
    expect(outcome((await routed('630102')).app, tight.id)).toBe('monthly_budget_spent');
    await expect(choose(apps.exact[1]!, exact.id)).resolves.toMatchObject({ status: 'posted' });
    expect(outcome((await routed('630103')).app, exact.id)).toBe('monthly_budget_spent');

    // Disbursed on 1 July too: the whole payout is now July's fees and nothing is held, still once.
    await callback(tight, {
      type: 'disbursed',
      application_id: apps.tight[0]!.app.id,
      amount: AMOUNT.toString(),
    });
    await expect(choose(apps.tight[1]!, tight.id)).rejects.toMatchObject({
      code: 'MARKETPLACE_PARTNER_AT_CAPACITY',
      details: { limit: 'monthly_budget' },
    });
    expect(outcome((await routed('630102')).app, tight.id)).toBe('monthly_budget_spent');
  });
});
