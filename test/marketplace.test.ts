import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  receivableAccountId,
  startPartnerSim,
  type ApplicantProfile,
  type OwnOfferSource,
  type PartnerSim,
  type PartnerSimOptions,
} from '../src/marketplace/index.ts';
import { isIP } from 'node:net';
import { generateWebhookSecret, resolveWithDns, signWebhook } from '../src/webhooks/index.ts';
import { openApiHarness, type ApiHarness } from './support/api-harness.ts';
import { newCustomer } from './support/customers.ts';
import { simPartner, type PartnerOverrides } from './support/marketplace-partners.ts';

/**
 * The marketplace over real HTTP: several partner-sims on port 0, Millet listening on port 0 for
 * their callbacks. Each test uses its own region code, so the partners of one test are not
 * eligible for another's applications.
 */
// Generous for a loaded machine; the slow partner below takes 10 s and the silent one forever.
const PING_TIMEOUT_MS = 1_500;
let h: ApiHarness;
let base = 'http://127.0.0.1:1';
const sims: PartnerSim[] = [];
const scores = new Map<string, number>();
const profiles = new Map<string, Partial<ApplicantProfile>>();
const ownCalls: Array<{ applicationId: string; applicant: Record<string, string> }> = [];
/** What partner host names resolve to where the app's policy looks them up (other names: DNS). */
const dnsAnswers = new Map<string, string[]>();

const own: OwnOfferSource = {
  async quote({ scoreBand, amount, termMonths }) {
    if (scoreBand === 'E') return null;
    return { amount, aprBp: 1_200, termMonths, promotions: [], valueFen: 30_000n };
  },
  async apply({ applicationId, applicant }) {
    ownCalls.push({ applicationId, applicant: { ...applicant } as Record<string, string> });
    return { decision: 'pending', reference: `own_${applicationId.slice(0, 8)}` };
  },
};

beforeAll(async () => {
  h = await openApiHarness({
    webhooksResolveHost: async (host) =>
      dnsAnswers.get(host)?.map((address) => ({ address, family: isIP(address) })) ?? resolveWithDns(host),
    marketplace: {
      applicants: {
        async profile(userId) {
          return {
            verified: true,
            ageYears: 30,
            identityClass: 'II',
            score: scores.get(userId) ?? 720,
            ...profiles.get(userId),
          };
        },
      },
      own,
      pingTimeoutMs: PING_TIMEOUT_MS,
      seed: 7,
      publicUrl: () => base,
      coDebtLimits: { applications30: 3 },
    },
  });
  base = (await h.app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
});

afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
  await h?.close();
});

const partner = (
  region: string,
  sim: Omit<PartnerSimOptions, 'secret'> = {},
  overrides: PartnerOverrides | ((sim: PartnerSim) => PartnerOverrides) = {},
) => simPartner(h, sims, { region, sim, overrides });

const applyBody = (region: string, amount = '5000000') => ({ amount, term_months: 12, region_code: region });

async function applyAs(region: string, amount: bigint, termMonths: number) {
  const userId = randomUUID();
  const app = await h.marketplace.apply({ userId, product: 'loan', amount, termMonths, regionCode: region });
  return { userId, app };
}

const chooseFor = (userId: string, applicationId: string, offerId: string) =>
  h.marketplace.choose({
    userId,
    applicationId,
    offerId,
    consentFields: ['real_name'],
    applicant: { real_name: '王小明' },
  });

async function waitFor(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('marketplace over real HTTP', () => {
  it('a slow or silent partner never blocks the user: offers come back within the ping timeout', async () => {
    const region = '110105';
    const fast = await partner('11', { name: 'fast', latencyMs: 10 });
    const slow = await partner('11', { name: 'slow', latencyMs: 10_000 });
    const dead = await partner('11', { name: 'dead', neverAnswer: true });
    const user = await newCustomer(h);
    const started = performance.now();
    const res = await h.post('/v1/marketplace/applications', applyBody(region), { key: user.token });
    const elapsed = performance.now() - started;
    expect(res.statusCode, res.body).toBe(201);
    expect(elapsed).toBeLessThan(PING_TIMEOUT_MS + 2_000); // far below the slow partner's 10 s
    const offers = res.json().offers as Array<Record<string, unknown>>;
    expect(offers.map((o) => o.partner_id).sort()).toEqual([fast.id, null].sort());
    expect(offers[0]!.apr).toMatch(/^\d+\.\d{2}%$/);
    expect(offers.find((o) => o.source === 'own')!.lender).toBe('Millet loan');
    // Every partner was pinged; the operator sees why the slow and the silent ones have no offer.
    expect(slow.sim.received.pings).toHaveLength(1);
    expect(dead.sim.received.pings).toHaveLength(1);
    const view = await h.get(`/v1/operator/marketplace/applications/${res.json().id}`);
    expect(view.statusCode, view.body).toBe(200);
    const outcome = (id: string) =>
      (view.json().routing as Array<{ partner_id: string; outcome: string }>).find((r) => r.partner_id === id)
        ?.outcome;
    expect(outcome(fast.id)).toBe('offered');
    expect(outcome(slow.id)).toBe('timeout');
    expect(outcome(dead.id)).toBe('timeout');
    for (const o of view.json().offers as Array<{
      rank: number;
      explanation: { rank: number; summary: string };
    }>) {
      expect(o.explanation.rank).toBe(o.rank);
      expect(o.explanation.summary).toContain('payout');
    }
  });

  it('stops pinging a partner that has stopped answering, and tells the operator why', async () => {
    const fast = await partner('15', { name: 'fast', latencyMs: 10 });
    const dead = await partner('15', { name: 'dead', neverAnswer: true });
    // Five applications at once, each waiting on the dead partner until the deadline.
    await Promise.all(Array.from({ length: 5 }, () => applyAs('150102', 5_000_000n, 12)));
    expect(dead.sim.received.pings).toHaveLength(5);
    // Their pings are given up one linger second after the deadline; five without an answer open its breaker.
    await waitFor(async () => {
      const { app } = await applyAs('150102', 5_000_000n, 12);
      return app.routing.find((r) => r.partnerId === dead.id)?.outcome === 'unresponsive';
    }, 10_000);
    const pingsBefore = dead.sim.received.pings.length;
    const started = performance.now();
    const { app } = await applyAs('150102', 5_000_000n, 12);
    expect(performance.now() - started).toBeLessThan(PING_TIMEOUT_MS); // nobody left to wait for
    expect(dead.sim.received.pings).toHaveLength(pingsBefore);
    const line = app.routing.find((r) => r.partnerId === dead.id)!;
    expect(line).toMatchObject({ outcome: 'unresponsive', reason: expect.stringContaining('no answer') });
    expect(line.latencyMs).toBeUndefined();
    expect(app.routing.find((r) => r.partnerId === fast.id)?.outcome).toBe('offered');
    // The operator's view shows the reason; the dead partner's funnel counts only the pings sent.
    const view = await h.get(`/v1/operator/marketplace/applications/${app.id}`);
    expect(view.statusCode, view.body).toBe(200);
    expect(
      (view.json().routing as Array<{ partner_id: string }>).find((r) => r.partner_id === dead.id),
    ).toMatchObject({
      outcome: 'unresponsive',
      reason: expect.stringContaining('no answer'),
      latency_ms: null,
    });
    const funnel = await h.get(
      `/v1/operator/marketplace/partners/${dead.id}/funnel?from=2025-01-01&to=2025-12-31`,
    );
    expect(funnel.statusCode, funnel.body).toBe(200);
    const pinged = (funnel.json().items as Array<{ pinged: number }>).reduce((n, d) => n + d.pinged, 0);
    expect(pinged).toBe(dead.sim.received.pings.length);
    // And the live metric counts it, by partner and outcome.
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    const series = (outcome: string) =>
      Number(
        new RegExp(
          `millet_marketplace_routing_total\\{partner="${dead.id}",outcome="${outcome}"\\} (\\d+)`,
        ).exec(metrics)?.[1] ?? 0,
      );
    expect(series('unresponsive')).toBeGreaterThanOrEqual(1);
    expect(series('timeout')).toBe(pinged);
  });

  it('sends no personal data in a ping and only the consented fields in a post', async () => {
    const region = '310101';
    const p = await partner('31', { name: 'consent', latencyMs: 5, approvalByBand: { B: 1 } });
    const user = await newCustomer(h);
    const app = await h.post('/v1/marketplace/applications', applyBody(region), { key: user.token });
    expect(app.statusCode, app.body).toBe(201);
    expect(Object.keys(p.sim.received.pings[0]!).sort()).toEqual(
      ['amount', 'ping_id', 'product', 'region_code', 'score_band', 'term_months'].sort(),
    );
    expect(JSON.stringify(p.sim.received.pings[0])).not.toContain(user.id);
    const offer = (
      app.json().offers as Array<{ id: string; partner_id: string | null; required_fields: string[] }>
    ).find((o) => o.partner_id === p.id)!;
    // Each offer names what its lender needs, for the consent screen; the platform's own needs none.
    expect(offer.required_fields).toEqual(['real_name']);
    for (const o of app.json().offers as Array<{ partner_id: string | null; required_fields: string[] }>)
      if (o.partner_id === null) expect(o.required_fields).toEqual([]);
    expect(app.json().outcome).toBeNull();
    const applicant = {
      real_name: '李小红',
      phone: '13712345678',
      resident_id: '110105198804121234',
      monthly_income: '1200000',
    };

    // The partner needs the name: a consent without it is refused and nothing is posted.
    const refused = await h.post(
      `/v1/marketplace/applications/${app.json().id}/choose`,
      { offer_id: offer.id, consent: { fields: ['monthly_income'] }, applicant },
      { key: user.token },
    );
    expect(refused.statusCode, refused.body).toBe(422);
    expect(refused.json().code).toBe('MARKETPLACE_CONSENT_INSUFFICIENT');
    expect(p.sim.received.posts).toHaveLength(0);

    // The protocol's monthly income is integer fen: yuan with decimals, or words, are refused before
    // any consent is written or anything posted (they were posted as typed).
    for (const monthly_income of ['12000.00', '1.2万', '12,000'] as const) {
      const badIncome = await h.post(
        `/v1/marketplace/applications/${app.json().id}/choose`,
        {
          offer_id: offer.id,
          consent: { fields: ['real_name', 'monthly_income'] },
          applicant: { ...applicant, monthly_income },
        },
        { key: user.token },
      );
      expect(badIncome.statusCode, badIncome.body).toBe(400);
      expect(String(badIncome.headers['content-type'])).toContain('application/problem+json');
      expect(badIncome.json()).toMatchObject({
        code: 'VALIDATION_FAILED',
        field: 'applicant.monthly_income',
      });
    }
    expect(p.sim.received.posts).toHaveLength(0);
    expect((await h.get('/v1/marketplace/consents', user.token)).json().items).toHaveLength(0);

    const chosen = await h.post(
      `/v1/marketplace/applications/${app.json().id}/choose`,
      { offer_id: offer.id, consent: { fields: ['real_name', 'monthly_income'] }, applicant },
      { key: user.token },
    );
    expect(chosen.statusCode, chosen.body).toBe(201);
    expect(p.sim.received.posts).toHaveLength(1);
    expect(Object.keys(p.sim.received.posts[0]!.applicant).sort()).toEqual(['monthly_income', 'real_name']);
    expect(p.sim.received.posts[0]!.applicant.monthly_income).toBe('1200000');
    expect(p.sim.received.rawPosts[0]).not.toContain(applicant.phone);
    expect(p.sim.received.rawPosts[0]).not.toContain(applicant.resident_id);
    // The user sees the lender's answer on the application once its callbacks arrive.
    const outcomeOf = async () =>
      (await h.get(`/v1/marketplace/applications/${app.json().id}`, user.token)).json().outcome as string;
    await waitFor(async () => (await outcomeOf()) === 'disbursed');

    // The consent names the fields, the recipient and the purpose; withdrawing keeps the record.
    const consents = await h.get('/v1/marketplace/consents', user.token);
    expect(consents.json().items).toHaveLength(1);
    const consent = consents.json().items[0];
    expect(consent.fields).toEqual(['monthly_income', 'real_name']);
    expect(consent.partner_id).toBe(p.id);
    expect(consent.purpose).toContain(app.json().id);
    const withdrawn = await h.post(
      `/v1/marketplace/consents/${consent.id}/withdraw`,
      {},
      { key: user.token },
    );
    expect(withdrawn.json().withdrawn_at).not.toBeNull();
    expect((await h.get('/v1/marketplace/consents', user.token)).json().items).toHaveLength(1);
  });

  it('records signed callbacks once, refuses bad signatures, and counts the funnel', async () => {
    const region = '440301';
    const p = await partner('44', { latencyMs: 5, approvalByBand: { B: 1 } });
    const { userId, app } = await applyAs(region, 2_000_000n, 6);
    const offer = app.offers.find((o) => o.partnerId === p.id)!;
    await chooseFor(userId, app.id, offer.id);
    await waitFor(async () => p.sim.callbacks.length >= 2);
    await p.sim.idle();
    expect(p.sim.callbacks.map((c) => [c.body.type, c.status])).toEqual([
      ['approved', 200],
      ['disbursed', 200],
    ]);
    const posterior = (await h.marketplace.posteriors(p.id)).find((x) => x.scoreBand === 'B')!;
    expect([posterior.approvals, posterior.declines]).toEqual([1, 0]);

    const url = `/v1/marketplace/partner-callbacks/${p.id}`;
    const body = JSON.stringify({
      type: 'repaid',
      application_id: app.id,
      amount: '100000',
      interest: '20000',
    });
    const ts = Math.floor(Date.now() / 1000);
    const forged = await h.request({
      method: 'POST',
      url,
      body,
      headers: {
        'content-type': 'application/json',
        'idempotency-key': 'msg_forged',
        'webhook-id': 'msg_forged',
        'webhook-timestamp': String(ts),
        'webhook-signature': signWebhook(generateWebhookSecret(), 'msg_forged', ts, body),
      },
    });
    expect(forged.statusCode).toBe(401);
    expect(forged.json().code).toBe('MARKETPLACE_SIGNATURE_INVALID');
    const old = ts - 3_600;
    const replayed = await h.request({
      method: 'POST',
      url,
      body,
      headers: {
        'content-type': 'application/json',
        'idempotency-key': 'msg_old',
        'webhook-id': 'msg_old',
        'webhook-timestamp': String(old),
        'webhook-signature': signWebhook(p.secret, 'msg_old', old, body),
      },
    });
    expect(replayed.statusCode).toBe(401);
    const signed = (id: string) => ({
      method: 'POST' as const,
      url,
      body,
      headers: {
        'content-type': 'application/json',
        'idempotency-key': `${id}-${Math.random()}`,
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': signWebhook(p.secret, id, ts, body),
      },
    });
    const first = await h.request(signed('msg_repaid_1'));
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json().duplicate).toBe(false);
    const again = await h.request(signed('msg_repaid_1'));
    expect(again.json().duplicate).toBe(true);
    // Another partner, signing with its own secret, cannot report on this partner's application.
    const other = await partner('45');
    const foreign = await h.request({
      method: 'POST',
      url: `/v1/marketplace/partner-callbacks/${other.id}`,
      body,
      headers: {
        'content-type': 'application/json',
        'idempotency-key': 'msg_foreign',
        'webhook-id': 'msg_foreign',
        'webhook-timestamp': String(ts),
        'webhook-signature': signWebhook(other.secret, 'msg_foreign', ts, body),
      },
    });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().code).toBe('MARKETPLACE_APPLICATION_NOT_FOUND');
    // A correctly signed callback with a NUL in its free text breaks the protocol: refused, not stored.
    const nulBody = JSON.stringify({
      type: 'repaid',
      application_id: app.id,
      amount: '100000',
      interest: '20000',
      partner_ref: 'ref\u0000',
    });
    const withNul = await h.request({
      method: 'POST',
      url,
      body: nulBody,
      headers: {
        'content-type': 'application/json',
        'idempotency-key': 'msg_nul',
        'webhook-id': 'msg_nul',
        'webhook-timestamp': String(ts),
        'webhook-signature': signWebhook(p.secret, 'msg_nul', ts, nulBody),
      },
    });
    expect(withNul.statusCode, withNul.body).toBe(400);
    expect(withNul.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path: 'partner_ref' }] });

    const funnel = await h.get(
      `/v1/operator/marketplace/partners/${p.id}/funnel?from=2025-06-01&to=2025-06-30`,
    );
    expect(funnel.statusCode, funnel.body).toBe(200);
    expect(funnel.json().items).toEqual([
      {
        date: '2025-06-01',
        pinged: 1,
        offered: 1,
        chosen: 1,
        posted: 1,
        approved: 1,
        declined: 0,
        disbursed: 1,
        pass_rate: 1,
      },
    ]);
    const snapshot = (await h.marketplace.coDebt([userId])).get(userId)!;
    expect(snapshot.last30).toEqual({
      applications: 1,
      applicationAmountFen: 2_000_000n,
      loans: 1,
      loanAmountFen: 2_000_000n,
    });
    expect((await h.marketplace.existingCredits([userId])).get(userId)).toBe(1);
  });

  it('stops pinging a partner past its daily cap or its monthly budget', async () => {
    const region = '510104';
    const capped = await partner('51', { latencyMs: 5, approvalByBand: { B: 1 } }, { daily_cap: 1 });
    const budgeted = await partner(
      '51',
      { latencyMs: 5, approvalByBand: { B: 1 }, disburse: false },
      { monthly_budget: '5000', pricing: { cpa: '5000', cps_bp: 0 } },
    );
    const post = async (partnerId: string) => {
      const { userId, app } = await applyAs(region, 1_000_000n, 6);
      const offer = app.offers.find((o) => o.partnerId === partnerId)!;
      expect(offer).toBeDefined();
      await chooseFor(userId, app.id, offer.id);
    };
    await post(capped.id);
    // The budget is exactly one CPA: the first payout would fit, so the partner is pinged.
    await post(budgeted.id);
    await waitFor(async () => budgeted.sim.callbacks.length >= 1);
    await budgeted.sim.idle();
    const pingsBefore = [capped.sim.received.pings.length, budgeted.sim.received.pings.length];
    const { app: next } = await applyAs(region, 1_000_000n, 6);
    expect([capped.sim.received.pings.length, budgeted.sim.received.pings.length]).toEqual(pingsBefore);
    const line = (id: string) => next.routing.find((r) => r.partnerId === id)!.outcome;
    expect(line(capped.id)).toBe('daily_cap_reached');
    expect(line(budgeted.id)).toBe('monthly_budget_spent');
    expect(next.offers.every((o) => o.source === 'own')).toBe(true);

    // The operator raises the cap: the partner is pinged again on the next application.
    const raised = await h.post(`/v1/operator/marketplace/partners/${capped.id}/limits`, {
      daily_cap: 2,
      monthly_budget: null,
    });
    expect(raised.statusCode, raised.body).toBe(200);
    expect(raised.json()).toMatchObject({ daily_cap: 2, monthly_budget: null });
    const { app: reopened } = await applyAs(region, 1_000_000n, 6);
    expect(capped.sim.received.pings.length).toBe(pingsBefore[0]! + 1);
    expect(reopened.offers.some((o) => o.partnerId === capped.id)).toBe(true);
    const negative = await h.post(`/v1/operator/marketplace/partners/${capped.id}/limits`, {
      daily_cap: -1,
      monthly_budget: null,
    });
    expect(negative.statusCode).toBe(400);
    expect(negative.json().code).toBe('VALIDATION_FAILED');
    const unknown = await h.post('/v1/operator/marketplace/partners/no-such-partner/limits', {
      daily_cap: 1,
      monthly_budget: null,
    });
    expect(unknown.statusCode).toBe(404);
  });

  it('refuses routing past the co-debt limit with a stated reason, pinging no one', async () => {
    const region = '330106';
    const p = await partner('33', { latencyMs: 5, approvalByBand: { B: 0 } });
    const user = await newCustomer(h);
    for (let i = 0; i < 3; i++) {
      const app = await h.post('/v1/marketplace/applications', applyBody(region, '1000000'), {
        key: user.token,
      });
      expect(app.statusCode, app.body).toBe(201);
      const offer = (app.json().offers as Array<{ id: string; partner_id: string }>).find(
        (o) => o.partner_id === p.id,
      )!;
      const chosen = await h.post(
        `/v1/marketplace/applications/${app.json().id}/choose`,
        { offer_id: offer.id, consent: { fields: ['real_name'] }, applicant: { real_name: '张三' } },
        { key: user.token },
      );
      expect(chosen.statusCode, chosen.body).toBe(201);
    }
    const pings = p.sim.received.pings.length;
    const refused = await h.post('/v1/marketplace/applications', applyBody(region, '1000000'), {
      key: user.token,
    });
    expect(refused.statusCode, refused.body).toBe(422);
    expect(refused.json().code).toBe('MARKETPLACE_CO_DEBT_LIMIT');
    expect(refused.json()).toMatchObject({ limit: 'applications_30d', value: '3', max: '3' });
    expect(p.sim.received.pings.length).toBe(pings);
  });

  it('holds the co-debt limit when applications routed side by side are all chosen at once', async () => {
    const region = '360102';
    const p = await partner('36', { latencyMs: 5, approvalByBand: { B: 0 } });
    const user = await newCustomer(h);
    // Five applications routed before any is posted: each passed the guard with no posts.
    const apps = [];
    for (let i = 0; i < 5; i++) {
      const app = await h.post('/v1/marketplace/applications', applyBody(region, '1000000'), {
        key: user.token,
      });
      expect(app.statusCode, app.body).toBe(201);
      apps.push(app.json() as { id: string; offers: Array<{ id: string; partner_id: string }> });
    }
    const chosen = await Promise.all(
      apps.map((app) =>
        h.post(
          `/v1/marketplace/applications/${app.id}/choose`,
          {
            offer_id: app.offers.find((o) => o.partner_id === p.id)!.id,
            consent: { fields: ['real_name'] },
            applicant: { real_name: '李四' },
          },
          { key: user.token },
        ),
      ),
    );
    expect(chosen.filter((r) => r.statusCode === 201)).toHaveLength(3);
    for (const r of chosen.filter((x) => x.statusCode !== 201)) {
      expect(r.statusCode, r.body).toBe(422);
      expect(r.json()).toMatchObject({ code: 'MARKETPLACE_CO_DEBT_LIMIT', limit: 'applications_30d' });
    }
    await waitFor(async () => p.sim.received.posts.length >= 3);
    await p.sim.idle();
    expect(p.sim.received.posts).toHaveLength(3);
    // A refused choice leaves its application open, with nothing sent to the lender.
    const statuses = await Promise.all(
      apps.map(
        async (app) => (await h.get(`/v1/marketplace/applications/${app.id}`, user.token)).json().status,
      ),
    );
    expect(statuses.filter((s) => s === 'offered')).toHaveLength(2);
  });

  it('learns pass rates that converge toward the partners’ simulated truth', async () => {
    const region = '420102';
    const truth = { good: 0.8, poor: 0.3 };
    const good = await partner('42', {
      latencyMs: 1,
      approvalByBand: { B: truth.good },
      seed: 11,
      disburse: false,
    });
    const poor = await partner('42', {
      latencyMs: 1,
      approvalByBand: { B: truth.poor },
      seed: 12,
      disburse: false,
    });
    // Users choose between the two offers alternately, so both partners get enough outcomes.
    for (let i = 0; i < 80; i++) {
      const { userId, app } = await applyAs(region, 1_000_000n, 12);
      const target = i % 2 === 0 ? good.id : poor.id;
      const offer = app.offers.find((o) => o.partnerId === target)!;
      await chooseFor(userId, app.id, offer.id);
    }
    await waitFor(async () => good.sim.callbacks.length + poor.sim.callbacks.length >= 80);
    await Promise.all([good.sim.idle(), poor.sim.idle()]);
    const mean = async (id: string) => (await h.marketplace.posteriors(id)).find((x) => x.scoreBand === 'B')!;
    const g = await mean(good.id);
    const p = await mean(poor.id);
    expect(g.approvals + g.declines).toBe(40);
    expect(p.approvals + p.declines).toBe(40);
    expect(Math.abs(g.posteriorMean - truth.good)).toBeLessThan(0.15);
    expect(Math.abs(p.posteriorMean - truth.poor)).toBeLessThan(0.15);
    // Ranked by expected value now, the better partner leads (same payout, higher approval).
    const { app } = await applyAs(region, 1_000_000n, 12);
    const partnersInOrder = app.offers.filter((o) => o.source === 'partner').map((o) => o.partnerId);
    expect(partnersInOrder[0]).toBe(good.id);
    const funnel = await h.get(
      `/v1/operator/marketplace/partners/${good.id}/funnel?from=2025-06-01&to=2025-06-01`,
    );
    expect(Math.abs((funnel.json().items[0].pass_rate as number) - truth.good)).toBeLessThan(0.15);
  }, 60_000);

  it('reconciles a month with the partner report, lists the injected discrepancy, invoices and records payment', async () => {
    const region = '320102';
    const tamper: { id?: string } = {};
    const p = await partner('32', {
      latencyMs: 1,
      approvalByBand: { B: 1 },
      tamperReport: (rows) =>
        rows.map((r) => (r.application_id === tamper.id ? { ...r, disbursed_amount: '1' } : r)),
    });
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { userId, app } = await applyAs(region, 1_000_000n, 12);
      await chooseFor(userId, app.id, app.offers.find((o) => o.partnerId === p.id)!.id);
      ids.push(app.id);
    }
    await waitFor(async () => p.sim.callbacks.length >= 4);
    expect(await p.sim.repay(ids[0]!, 200_000n, 12_345n)).toBe(200);
    tamper.id = ids[1];
    // June is still running (the clock is in it): its invoice would miss the rest of its callbacks.
    const early = await h.post(`/v1/operator/marketplace/partners/${p.id}/settlements`, { month: '2025-06' });
    expect(early.statusCode, early.body).toBe(409);
    expect(early.json()).toMatchObject({ code: 'MARKETPLACE_MONTH_OPEN', settles_from: '2025-07-01' });
    const future = await h.post(`/v1/operator/marketplace/partners/${p.id}/settlements`, {
      month: '2025-09',
    });
    expect(future.json().code).toBe('MARKETPLACE_MONTH_OPEN');
    // Midnight of 1 July in Shanghai is the first moment June can be settled; the later tests of
    // this file live in June, so the clock goes back at the end.
    const june = h.clock.now();
    h.clock.set('2025-06-30T16:00:00Z');
    const settled = await h.post(`/v1/operator/marketplace/partners/${p.id}/settlements`, {
      month: '2025-06',
    });
    expect(settled.statusCode, settled.body).toBe(201);
    const s = settled.json();
    expect(s.discrepancies).toEqual([
      { application_id: ids[1], field: 'disbursed_amount', platform: '1000000', partner: '1' },
    ]);
    // 2 × CPA 50.00 + 2 × 1.5 % of 10,000.00 + 10 % of 123.45 interest (1,234.5 fen → 1,234 half-even).
    expect(s.invoice).toBe(String(2 * 5_000 + 2 * 15_000 + 1_234));
    expect(s.platform).toEqual({
      applications: 2,
      approved: 2,
      disbursed: '2000000',
      repaid_interest: '12345',
    });
    const receivable = `/v1/ledger/accounts/${receivableAccountId(p.id)}`;
    const before = await h.get(receivable);
    expect(before.json().balances.debits_posted).toBe(s.invoice);
    const again = await h.post(`/v1/operator/marketplace/partners/${p.id}/settlements`, { month: '2025-06' });
    expect(again.json().id).toBe(s.id);
    const over = await h.post(`/v1/operator/marketplace/settlements/${s.id}/payments`, {
      payment_id: randomUUID(),
      amount: String(Number(s.invoice) + 1),
    });
    expect(over.statusCode).toBe(422);
    expect(over.json().code).toBe('MARKETPLACE_OVERPAYMENT');
    const paid = await h.post(`/v1/operator/marketplace/settlements/${s.id}/payments`, {
      payment_id: randomUUID(),
      amount: s.invoice,
    });
    expect(paid.statusCode, paid.body).toBe(201);
    expect(paid.json().status).toBe('paid');
    expect((await h.get(receivable)).json().balances.credits_posted).toBe(s.invoice);
    expect((await h.get('/v1/ledger/verify')).json().ok).toBe(true);
    h.clock.set(june.toISOString());
  });

  it('ranks the platform’s own loan under the same rules and learns from its outcomes', async () => {
    const region = '500101';
    const { userId, app } = await applyAs(region, 1_000_000n, 12);
    const ownOffer = app.offers.find((o) => o.source === 'own')!;
    expect(ownOffer.explanation.payoutFen).toBe('30000');
    const post = await h.marketplace.choose({
      userId,
      applicationId: app.id,
      offerId: ownOffer.id,
      consentFields: ['real_name'],
      applicant: { real_name: '王小明', phone: '13700000000' },
    });
    expect(post.source).toBe('own');
    expect(ownCalls.at(-1)).toEqual({ applicationId: app.id, applicant: { real_name: '王小明' } });
    await h.marketplace.recordOwnOutcome(app.id, 'loan-1', 'approved', 1_000_000n);
    await h.marketplace.recordOwnOutcome(app.id, 'loan-1', 'approved', 1_000_000n); // a retry
    const posterior = (await h.marketplace.posteriors('own')).find((x) => x.scoreBand === 'B')!;
    expect([posterior.approvals, posterior.declines]).toEqual([1, 0]);
    const again = await h.post(
      `/v1/marketplace/applications/${app.id}/choose`,
      { offer_id: ownOffer.id, consent: { fields: ['real_name'] }, applicant: { real_name: 'x' } },
      { key: (await newCustomer(h)).token },
    );
    expect(again.json().code).toBe('MARKETPLACE_APPLICATION_NOT_FOUND');
  });
  it('partner-sims refuse requests that are not signed with their secret', async () => {
    const secret = generateWebhookSecret();
    const sim = await startPartnerSim({ secret });
    sims.push(sim);
    const body = JSON.stringify({
      ping_id: 'x',
      product: 'loan',
      score_band: 'B',
      amount: '100000',
      term_months: 6,
      region_code: '110105',
    });
    const ts = Math.floor(Date.now() / 1000);
    const send = (key: string) =>
      fetch(`${sim.url}/ping`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'webhook-id': 'msg_1',
          'webhook-timestamp': String(ts),
          'webhook-signature': signWebhook(key, 'msg_1', ts, body),
        },
      });
    expect((await send(generateWebhookSecret())).status).toBe(401);
    expect(sim.received.pings).toHaveLength(0);
    const ok = await send(secret);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { offers: unknown[] }).offers).toHaveLength(1);
  });

  it('refuses unverified users, minors and users without a score before any ping', async () => {
    const user = await newCustomer(h);
    const ask = () => h.post('/v1/marketplace/applications', applyBody('110105'), { key: user.token });
    profiles.set(user.id, { verified: false });
    expect((await ask()).json().code).toBe('IDENTITY_NOT_VERIFIED');
    profiles.set(user.id, { ageYears: 17 });
    expect((await ask()).json().code).toBe('CREDIT_UNDERAGE');
    profiles.set(user.id, { score: null });
    const none = await ask();
    expect(none.statusCode).toBe(404);
    expect(none.json().code).toBe('CREDIT_SCORE_NOT_FOUND');
    const bad = await h.post(
      '/v1/marketplace/applications',
      { amount: '12.5', term_months: 12, region_code: '110105' },
      {
        key: user.token,
      },
    );
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('VALIDATION_FAILED');
  });

  it('lets the user choose again when the post did not reach the lender', async () => {
    const region = '610102';
    const p = await partner('61', { latencyMs: 1, approvalByBand: { B: 1 }, failPosts: 1 });
    const { userId, app } = await applyAs(region, 1_000_000n, 12);
    const offer = app.offers.find((o) => o.partnerId === p.id)!;
    await expect(chooseFor(userId, app.id, offer.id)).rejects.toMatchObject({
      code: 'MARKETPLACE_PARTNER_UNAVAILABLE',
    });
    expect((await h.marketplace.getApplication(app.id)).status).toBe('offered');
    const post = await chooseFor(userId, app.id, offer.id);
    expect(post.status).toBe('posted');
    expect(p.sim.received.posts).toHaveLength(2);
    await waitFor(async () => p.sim.callbacks.length >= 2);
    expect(p.sim.callbacks.map((c) => c.status)).toEqual([200, 200]);
    expect((await h.marketplace.coDebt([userId])).get(userId)!.last30.applications).toBe(1);
  });

  it('counts a failed choice in its partner’s funnel when the user then chooses another partner', async () => {
    const region = '620102';
    const down = await partner('62', { name: 'down', latencyMs: 1, failPosts: 1 });
    const up = await partner('62', { name: 'up', latencyMs: 1, approvalByBand: { B: 1 } });
    const { userId, app } = await applyAs(region, 1_000_000n, 12);
    const offerOf = (id: string) => app.offers.find((o) => o.partnerId === id)!;
    await expect(chooseFor(userId, app.id, offerOf(down.id).id)).rejects.toMatchObject({
      code: 'MARKETPLACE_PARTNER_UNAVAILABLE',
    });
    expect(down.sim.received.posts).toHaveLength(1);
    expect((await chooseFor(userId, app.id, offerOf(up.id).id)).status).toBe('posted');
    await waitFor(async () => up.sim.callbacks.length >= 1);
    await up.sim.idle();
    const funnelOf = async (id: string) => {
      const res = await h.get(`/v1/operator/marketplace/partners/${id}/funnel?from=2025-06-01&to=2025-06-30`);
      expect(res.statusCode, res.body).toBe(200);
      return res.json().items as unknown[];
    };
    const day = { date: '2025-06-01', pinged: 1, offered: 1, chosen: 1 };
    // The post to the first partner failed: chosen, not posted, nothing decided.
    expect(await funnelOf(down.id)).toEqual([
      { ...day, posted: 0, approved: 0, declined: 0, disbursed: 0, pass_rate: null },
    ]);
    expect(await funnelOf(up.id)).toEqual([
      { ...day, posted: 1, approved: 1, declined: 0, disbursed: 1, pass_rate: 1 },
    ]);
  });

  it('neither pings nor posts to a partner whose name is pointed at a private address after it was saved', async () => {
    const region = '650102';
    // Names only the test's resolver knows: saved while they point at this machine (allowed here,
    // as in development), pointed at the private network later (DNS rebinding).
    const named = (host: string) => (sim: PartnerSim) => ({ endpoint_url: `http://${host}:${sim.port}` });
    const postHost = `lender-${randomUUID().slice(0, 8)}.localhost`;
    const pingHost = `lender-${randomUUID().slice(0, 8)}.localhost`;
    dnsAnswers.set(postHost, ['127.0.0.1']);
    dnsAnswers.set(pingHost, ['127.0.0.1']);
    const posted = await partner('65', { latencyMs: 1, approvalByBand: { B: 1 } }, named(postHost));
    const pinged = await partner('65', { latencyMs: 1, approvalByBand: { B: 1 } }, named(pingHost));
    dnsAnswers.set(pingHost, ['10.0.0.6']);

    const user = await newCustomer(h);
    const app = await h.post('/v1/marketplace/applications', applyBody(region), { key: user.token });
    expect(app.statusCode, app.body).toBe(201);
    const offers = app.json().offers as Array<{ id: string; partner_id: string | null }>;
    expect(offers.map((o) => o.partner_id).sort()).toEqual([posted.id, null].sort());
    // The partner whose name resolves to a private address at ping time is not connected to; the
    // operator sees why it has no offer.
    expect(pinged.sim.connections()).toBe(0);
    const routing = (await h.marketplace.getApplication(app.json().id as string)).routing;
    expect(routing.find((l) => l.partnerId === pinged.id)).toMatchObject({
      outcome: 'error',
      reason: `refused: ${pingHost} resolves to 10.0.0.6, a private address`,
    });

    // Between the offer and the choice the other lender's name is pointed at the private network:
    // the post is refused before anything is sent, and the user may choose again.
    dnsAnswers.set(postHost, ['172.16.0.9']);
    const offer = offers.find((o) => o.partner_id === posted.id)!;
    const chosen = await h.post(
      `/v1/marketplace/applications/${app.json().id}/choose`,
      { offer_id: offer.id, consent: { fields: ['real_name'] }, applicant: { real_name: '王小明' } },
      { key: user.token },
    );
    expect(chosen.statusCode, chosen.body).toBe(502);
    expect(chosen.json()).toMatchObject({
      code: 'MARKETPLACE_PARTNER_UNAVAILABLE',
      reason: 'address_refused',
    });
    expect(posted.sim.received.posts).toHaveLength(0);
    expect((await h.marketplace.getApplication(app.json().id as string)).status).toBe('offered');
  });

  it('keeps operator routes behind the marketplace:admin scope', async () => {
    const key = await h.post('/v1/operator/api-keys', { name: 'ledger only', scopes: ['ledger:read'] });
    expect(key.statusCode, key.body).toBe(201);
    const res = await h.get('/v1/operator/marketplace/partners', key.json().key as string);
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('FORBIDDEN_SCOPE');
  });
});
