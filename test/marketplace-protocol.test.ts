import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  receivableAccountId,
  type PartnerSim,
  type PartnerSimOptions,
  type PostRequest,
} from '../src/marketplace/index.ts';
import { generateWebhookSecret, signWebhook } from '../src/webhooks/index.ts';
import { openApiHarness, type ApiHarness, type ApiResponse, type JsonObject } from './support/api-harness.ts';
import { newCustomer } from './support/customers.ts';
import { registerPartner, simPartner as startSimPartner } from './support/marketplace-partners.ts';

/**
 * The partner protocol at its edges: callbacks that repeat, collide or arrive before the post's
 * answer, amounts a partner may not report, offers a partner may not make, partners gone since
 * routing, and the monthly report and payments. Partners are partner-sims or small hand-written
 * servers on port 0; each test uses its own region, so no test's partner sees another's pings.
 */
const POST_TIMEOUT_MS = 1_000;
let h: ApiHarness;
let base = 'http://127.0.0.1:1';
/** Where partners call back, when a test puts a proxy in front of Millet. */
let callbackBase = '';
const sims: PartnerSim[] = [];
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
      postTimeoutMs: POST_TIMEOUT_MS,
      seed: 7,
      publicUrl: () => callbackBase || base,
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

async function listen(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

const register = (region: string, url: string, secret: string) =>
  registerPartner(h, { region, url, secret, name: 'proto' });

const simPartner = (region: string, sim: Omit<PartnerSimOptions, 'secret'> = {}) =>
  startSimPartner(h, sims, { region, sim, name: 'proto' });

/**
 * A hand-written partner: offers `offerAmount` (default: the amount asked), answers posts with
 * `onPost` (default: received) and reports with `onReport`.
 */
async function customPartner(
  region: string,
  opts: {
    offerAmount?: string;
    onPost?: (body: PostRequest, secret: string, res: http.ServerResponse) => Promise<void> | void;
    onReport?: (body: JsonObject) => unknown;
  } = {},
) {
  const secret = generateWebhookSecret();
  const posts: PostRequest[] = [];
  const url = await listen((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', async () => {
      const body = JSON.parse(raw || '{}') as JsonObject;
      const json = (value: unknown) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (req.url === '/ping') {
        json({
          offers: [
            {
              offer_ref: 'off_x',
              amount: opts.offerAmount ?? body.amount,
              apr_bp: 900,
              term_months: body.term_months,
            },
          ],
        });
      } else if (req.url === '/post') {
        posts.push(body as PostRequest);
        if (opts.onPost) await opts.onPost(body as PostRequest, secret, res);
        else json({ status: 'received', partner_ref: 'r1' });
      } else if (req.url === '/report' && opts.onReport) json(opts.onReport(body));
      else res.writeHead(404).end();
    });
  });
  return { id: await register(region, url, secret), secret, posts };
}

function callbackHeaders(secret: string, body: string, msgId: string) {
  const ts = Math.floor(Date.now() / 1000);
  return {
    'content-type': 'application/json',
    'webhook-id': msgId,
    'webhook-timestamp': String(ts),
    'webhook-signature': signWebhook(secret, msgId, ts, body),
  };
}

/** A signed callback; Idempotency-Key = webhook-id, as partners were told to send it. */
function callback(partnerId: string, secret: string, payload: unknown, msgId = `msg_${randomUUID()}`) {
  const body = JSON.stringify(payload);
  return h.request({
    method: 'POST',
    url: `/v1/marketplace/partner-callbacks/${partnerId}`,
    body,
    headers: { ...callbackHeaders(secret, body, msgId), 'idempotency-key': msgId },
  });
}

async function applyAndChoose(region: string, partnerId: string, amount = 1_000_000n) {
  const userId = randomUUID();
  const app = await h.marketplace.apply({
    userId,
    product: 'loan',
    amount,
    termMonths: 12,
    regionCode: region,
  });
  const offer = app.offers.find((o) => o.partnerId === partnerId);
  expect(offer, JSON.stringify(app.routing)).toBeDefined();
  const post = await h.marketplace.choose({
    userId,
    applicationId: app.id,
    offerId: offer!.id,
    consentFields: ['real_name'],
    applicant: { real_name: '王小明' },
  });
  return { userId, app, offer: offer!, post };
}

interface PostRow {
  status: string;
  fee_fen: bigint;
  approved_amount: bigint | null;
  disbursed_amount: bigint | null;
  repaid_amount: bigint;
  repaid_interest: bigint;
}

const postRow = async (applicationId: string): Promise<PostRow> =>
  (await h.t.db.query<PostRow>('SELECT * FROM marketplace_posts WHERE application_id = $1', [applicationId]))
    .rows[0]!;

async function waitFor(check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs `work` with the clock at `at`, then puts it back (the other tests live in June 2025). */
async function atTime<T>(at: string, work: () => Promise<T>): Promise<T> {
  const before = h.clock.now().toISOString();
  h.clock.set(at);
  try {
    return await work();
  } finally {
    h.clock.set(before);
  }
}

describe('partner callbacks', () => {
  it('applies a retried callback once the state allows it, not a stored refusal', async () => {
    const p = await customPartner('71');
    const { app } = await applyAndChoose('710101', p.id);
    const msg = `msg_${randomUUID()}`;
    const disbursed = { type: 'disbursed', application_id: app.id, amount: '1000000' };
    const early = await callback(p.id, p.secret, disbursed, msg);
    expect(early.statusCode).toBe(409);
    expect(early.json().code).toBe('MARKETPLACE_CALLBACK_OUT_OF_ORDER');
    const approved = await callback(p.id, p.secret, { type: 'approved', application_id: app.id });
    expect(approved.statusCode, approved.body).toBe(200);
    const retry = await callback(p.id, p.secret, disbursed, msg);
    expect(retry.statusCode, retry.body).toBe(200);
    expect(retry.json()).toEqual({ received: true, duplicate: false });
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect((await postRow(app.id)).status).toBe('disbursed');
    const again = await callback(p.id, p.secret, disbursed, msg);
    expect(again.json()).toEqual({ received: true, duplicate: true });
  });

  it('keeps partners’ webhook-ids apart and lets no unsigned request claim one', async () => {
    const a = await customPartner('72');
    const b = await customPartner('72');
    const { app: appA } = await applyAndChoose('720101', a.id);
    const { app: appB } = await applyAndChoose('720101', b.id);
    const shared = `msg_${randomUUID()}`;
    const ra = await callback(a.id, a.secret, { type: 'approved', application_id: appA.id }, shared);
    const rb = await callback(b.id, b.secret, { type: 'approved', application_id: appB.id }, shared);
    expect([ra.statusCode, rb.statusCode], rb.body).toEqual([200, 200]);
    expect(rb.json()).toEqual({ received: true, duplicate: false });
    expect((await postRow(appB.id)).status).toBe('approved');

    // Someone without B's secret sends junk under the webhook-id B will use next.
    const next = `msg_${randomUUID()}`;
    const junk = await h.request({
      method: 'POST',
      url: `/v1/marketplace/partner-callbacks/${b.id}`,
      body: JSON.stringify({ type: 'disbursed', application_id: appB.id, amount: '1' }),
      headers: {
        'content-type': 'application/json',
        'idempotency-key': next,
        'webhook-id': next,
        'webhook-timestamp': '1',
        'webhook-signature': 'v1,xx',
      },
    });
    expect(junk.statusCode).toBe(401);
    expect(junk.json().code).toBe('MARKETPLACE_SIGNATURE_INVALID');
    const real = await callback(
      b.id,
      b.secret,
      { type: 'disbursed', application_id: appB.id, amount: '1000000' },
      next,
    );
    expect(real.statusCode, real.body).toBe(200);
    expect(real.json()).toEqual({ received: true, duplicate: false });
    expect((await postRow(appB.id)).status).toBe('disbursed');
  });

  it('takes a signed callback without an Idempotency-Key: the webhook-id identifies it', async () => {
    const p = await customPartner('73');
    const { app } = await applyAndChoose('730101', p.id);
    const body = JSON.stringify({ type: 'approved', application_id: app.id });
    const msg = `msg_${randomUUID()}`;
    const send = () =>
      h.request({
        method: 'POST',
        url: `/v1/marketplace/partner-callbacks/${p.id}`,
        body,
        headers: callbackHeaders(p.secret, body, msg),
      });
    const first = await send();
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toEqual({ received: true, duplicate: false });
    expect((await send()).json()).toEqual({ received: true, duplicate: true });
    const unsigned = await h.request({
      method: 'POST',
      url: `/v1/marketplace/partner-callbacks/${p.id}`,
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(unsigned.statusCode).toBe(401);
    expect(unsigned.headers['content-type']).toContain('application/problem+json');
  });

  it('refuses amounts beyond the offer posted, the amount approved and the amount disbursed', async () => {
    const p = await customPartner('74');
    const { app } = await applyAndChoose('740101', p.id);
    const expectRefused = async (payload: Record<string, unknown>) => {
      const res = await callback(p.id, p.secret, { application_id: app.id, ...payload });
      expect(res.statusCode, res.body).toBe(422);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json().code).toBe('MARKETPLACE_CALLBACK_AMOUNT_INVALID');
    };
    const expectTaken = async (payload: Record<string, unknown>) => {
      const res = await callback(p.id, p.secret, { application_id: app.id, ...payload });
      expect(res.statusCode, res.body).toBe(200);
    };
    await expectRefused({ type: 'approved', amount: '1000001' });
    expect((await postRow(app.id)).status).toBe('posted');
    await expectTaken({ type: 'approved', amount: '800000' });
    await expectRefused({ type: 'disbursed', amount: '800001' });
    await expectTaken({ type: 'disbursed', amount: '800000' });
    // 600,000 principal + 100,000 interest, then 200,000 principal: 800,000, all of it.
    await expectTaken({ type: 'repaid', amount: '700000', interest: '100000' });
    await expectRefused({ type: 'repaid', amount: '200001', interest: '0' });
    await expectTaken({ type: 'repaid', amount: '250000', interest: '50000' });
    await expectRefused({ type: 'repaid', amount: '1', interest: '0' });
    const row = await postRow(app.id);
    expect([row.approved_amount, row.disbursed_amount, row.repaid_amount, row.repaid_interest]).toEqual([
      800_000n,
      800_000n,
      950_000n,
      150_000n,
    ]);
    // CPA 50.00 + 1.5 % of 8,000.00 + 10 % of 1,500.00 interest: nothing from the refused ones.
    expect(row.fee_fen).toBe(5_000n + 12_000n + 15_000n);
  });

  it('keeps a post the partner approved by callback before its answer timed out', async () => {
    const p = await customPartner('75', {
      onPost: async (body, secret, res) => {
        const payload = JSON.stringify({
          type: 'approved',
          application_id: body.application_id,
          amount: body.amount,
        });
        const msg = `msg_${randomUUID()}`;
        const answered = await fetch(body.callback_url, {
          method: 'POST',
          body: payload,
          headers: callbackHeaders(secret, payload, msg),
        });
        expect(answered.status).toBe(200);
        await new Promise((r) => setTimeout(r, POST_TIMEOUT_MS + 500));
        if (!res.destroyed)
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end('{"status":"received","partner_ref":"late"}');
      },
    });
    const other = await simPartner('75', { latencyMs: 1, approvalByBand: { B: 1 }, disburse: false });
    const userId = randomUUID();
    const app = await h.marketplace.apply({
      userId,
      product: 'loan',
      amount: 1_000_000n,
      termMonths: 12,
      regionCode: '750101',
    });
    const offer = app.offers.find((o) => o.partnerId === p.id)!;
    const choice = {
      userId,
      applicationId: app.id,
      consentFields: ['real_name' as const],
      applicant: { real_name: '王' },
    };
    const post = await h.marketplace.choose({ ...choice, offerId: offer.id });
    expect(post.status).toBe('approved');
    const row = await postRow(app.id);
    expect([row.status, row.fee_fen]).toEqual(['approved', 5_000n]);
    const application = await h.marketplace.getApplication(app.id);
    expect([application.status, application.outcome, application.chosenOfferId]).toEqual([
      'posted',
      'approved',
      offer.id,
    ]);
    // Not offered again: no second lender gets the user's data.
    const second = await h.marketplace
      .choose({ ...choice, offerId: app.offers.find((o) => o.partnerId === other.id)!.id })
      .catch((e: unknown) => e);
    expect(second).toMatchObject({ code: 'MARKETPLACE_APPLICATION_STATE' });
    expect(other.sim.received.posts).toHaveLength(0);
    const disbursed = await callback(p.id, p.secret, {
      type: 'disbursed',
      application_id: app.id,
      amount: '1000000',
    });
    expect(disbursed.statusCode, disbursed.body).toBe(200);
    expect((await postRow(app.id)).status).toBe('disbursed');
  });

  it('answers the user with the decision a callback recorded before the post’s own answer came', async () => {
    const p = await customPartner('75', {
      onPost: async (body, secret, res) => {
        const payload = JSON.stringify({
          type: 'approved',
          application_id: body.application_id,
          amount: body.amount,
        });
        const answered = await fetch(body.callback_url, {
          method: 'POST',
          body: payload,
          headers: callbackHeaders(secret, payload, `msg_${randomUUID()}`),
        });
        expect(answered.status).toBe(200);
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"status":"approved","partner_ref":"early"}');
      },
    });
    const userId = randomUUID();
    const app = await h.marketplace.apply({
      userId,
      product: 'loan',
      amount: 1_000_000n,
      termMonths: 12,
      regionCode: '750101',
    });
    const post = await h.marketplace.choose({
      userId,
      applicationId: app.id,
      offerId: app.offers.find((o) => o.partnerId === p.id)!.id,
      consentFields: ['real_name'],
      applicant: { real_name: '王' },
    });
    expect(post.status).toBe('approved');
    // Approved once: the callback's fee, not a second one for the post's answer.
    expect([(await postRow(app.id)).status, (await postRow(app.id)).fee_fen]).toEqual(['approved', 5_000n]);
  });

  it('partner-sim retries a callback under its first webhook-id, so it counts once', async () => {
    // A proxy in front of Millet forwards the first repaid callback, then loses Millet's answer.
    let lost = false;
    const proxy = await listen((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', async () => {
        const forwarded = await fetch(`${base}${req.url}`, {
          method: 'POST',
          body: raw,
          headers: Object.fromEntries(
            Object.entries(req.headers).filter(
              ([k]) => !['host', 'content-length', 'connection'].includes(k),
            ),
          ) as Record<string, string>,
        });
        const text = await forwarded.text();
        if (!lost && JSON.parse(raw).type === 'repaid') {
          lost = true;
          res.writeHead(503).end();
          return;
        }
        res.writeHead(forwarded.status, { 'content-type': 'application/json' }).end(text);
      });
    });
    callbackBase = proxy;
    try {
      const p = await simPartner('76', { latencyMs: 1, approvalByBand: { B: 1 } });
      const { app } = await applyAndChoose('760101', p.id);
      await waitFor(() => p.sim.callbacks.length >= 2);
      await p.sim.idle();
      expect(await p.sim.repay(app.id, 200_000n, 12_345n)).toBe(200);
      expect(lost).toBe(true);
      const row = await postRow(app.id);
      expect([row.repaid_amount, row.repaid_interest]).toEqual([200_000n, 12_345n]);
      const repaid = await h.t.db.query(
        `SELECT 1 FROM marketplace_callbacks WHERE application_id = $1 AND type = 'repaid'`,
        [app.id],
      );
      expect(repaid.rows).toHaveLength(1);
    } finally {
      callbackBase = '';
    }
  });
});

describe('partner ids and webhook-ids as sent', () => {
  it('counts a callback replayed to the partner’s id in capitals once, and reads its posteriors there', async () => {
    const p = await customPartner('86');
    const { app } = await applyAndChoose('860101', p.id);
    const upper = p.id.toUpperCase();
    const msg = `msg_${randomUUID()}`;
    const approved = { type: 'approved', application_id: app.id, amount: '800000' };
    expect((await callback(p.id, p.secret, approved, msg)).json()).toEqual({
      received: true,
      duplicate: false,
    });
    const replayed = await callback(upper, p.secret, approved, msg);
    expect(replayed.statusCode, replayed.body).toBe(200);
    expect(replayed.json()).toEqual({ received: true, duplicate: true });
    const disbursed = { type: 'disbursed', application_id: app.id, amount: '800000' };
    const repaid = { type: 'repaid', application_id: app.id, amount: '110000', interest: '10000' };
    expect((await callback(upper, p.secret, disbursed)).statusCode).toBe(200);
    const repaidMsg = `msg_${randomUUID()}`;
    expect((await callback(p.id, p.secret, repaid, repaidMsg)).json().duplicate).toBe(false);
    expect((await callback(upper, p.secret, repaid, repaidMsg)).json().duplicate).toBe(true);
    const row = await postRow(app.id);
    expect([row.repaid_amount, row.repaid_interest]).toEqual([110_000n, 10_000n]);
    // CPA 50.00 + 1.5 % of 8,000.00 + 10 % of 100.00: the replays earned nothing.
    expect(row.fee_fen).toBe(5_000n + 12_000n + 1_000n);
    const posteriors = await h.get(`/v1/operator/marketplace/partners/${upper}/posteriors`);
    expect(posteriors.statusCode, posteriors.body).toBe(200);
    expect(posteriors.json().items.find((i: JsonObject) => i.score_band === 'B')).toMatchObject({
      approvals: 1,
      declines: 0,
    });
  });

  it('refuses a webhook-id too long to keep with 400, changing nothing', async () => {
    const p = await customPartner('87');
    const { app } = await applyAndChoose('870101', p.id);
    const body = JSON.stringify({ type: 'approved', application_id: app.id });
    const id = randomBytes(3_000).toString('base64url');
    const res = await h.request({
      method: 'POST',
      url: `/v1/marketplace/partner-callbacks/${p.id}`,
      body,
      headers: callbackHeaders(p.secret, body, id),
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'webhook-id' });
    expect((await postRow(app.id)).status).toBe('posted');
  });
});

describe('funnel', () => {
  it('counts an application chosen after midnight in its application’s day', async () => {
    const p = await customPartner('88');
    const userId = randomUUID();
    // 23:59 on 15 July in Shanghai; chosen and approved at 00:01 on the 16th.
    const app = await atTime('2025-07-15T15:59:00Z', () =>
      h.marketplace.apply({
        userId,
        product: 'loan',
        amount: 1_000_000n,
        termMonths: 12,
        regionCode: '880101',
      }),
    );
    await atTime('2025-07-15T16:01:00Z', async () => {
      await h.marketplace.choose({
        userId,
        applicationId: app.id,
        offerId: app.offers.find((o) => o.partnerId === p.id)!.id,
        consentFields: ['real_name'],
        applicant: { real_name: '王' },
      });
      expect((await callback(p.id, p.secret, { type: 'approved', application_id: app.id })).statusCode).toBe(
        200,
      );
    });
    const res = await h.get(`/v1/operator/marketplace/partners/${p.id}/funnel?from=2025-07-01&to=2025-07-31`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().items).toEqual([
      {
        date: '2025-07-15',
        pinged: 1,
        offered: 1,
        chosen: 1,
        posted: 1,
        approved: 1,
        declined: 0,
        disbursed: 0,
        pass_rate: 1,
      },
    ]);
  });
});

describe('funnel dates', () => {
  it('answers a date that is no calendar day, or from after to, with 400 naming the field', async () => {
    const p = await customPartner('94');
    for (const [query, field] of [
      ['from=2025-13-45&to=2025-12-31', 'from'],
      ['from=2025-02-29&to=2025-03-31', 'from'],
      ['from=2025-07-01&to=2025-06-31', 'to'],
      ['from=2025-07-31&to=2025-07-01', 'from'],
    ] as const)
      for (const id of [p.id, 'own']) {
        const res = await h.get(`/v1/operator/marketplace/partners/${id}/funnel?${query}`);
        expect(res.statusCode, `${id} ${query}: ${res.body}`).toBe(400);
        expect(String(res.headers['content-type'])).toContain('application/problem+json');
        expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
      }
    const one = await h.get(`/v1/operator/marketplace/partners/${p.id}/funnel?from=2024-02-29&to=2024-02-29`);
    expect(one.statusCode, one.body).toBe(200);
  });

  it('answers a range of more than 366 days with 400 naming to, for a partner and for the own loan', async () => {
    const p = await customPartner('95');
    for (const id of [p.id, 'own']) {
      for (const query of ['from=1900-01-01&to=9999-12-31', 'from=2024-01-01&to=2025-01-01']) {
        const res = await h.get(`/v1/operator/marketplace/partners/${id}/funnel?${query}`);
        expect(res.statusCode, `${id} ${query}: ${res.body}`).toBe(400);
        expect(String(res.headers['content-type'])).toContain('application/problem+json');
        expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'to', max_days: 366 });
      }
      // A leap year is 366 days, both ends included.
      const year = await h.get(
        `/v1/operator/marketplace/partners/${id}/funnel?from=2024-01-01&to=2024-12-31`,
      );
      expect(year.statusCode, `${id}: ${year.body}`).toBe(200);
    }
  });

  it('reads the own loan’s range of applications by an index on their date', async () => {
    const { rows } = await h.t.db.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'marketplace_applications_loan_date'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.indexdef).toMatch(/\(business_date, id\) WHERE \(product = 'loan'::text\)/);
  });
});

describe('offers and choices', () => {
  it('drops offers above the amount asked or outside the partner’s amount range', async () => {
    // Each partner lends 1,000.00 to 300,000.00 CNY; the user asks for 2,000.00.
    const aboveAsked = await customPartner('77', { offerAmount: '60000000' });
    const belowMin = await customPartner('77', { offerAmount: '50000' });
    const fair = await customPartner('77', { offerAmount: '150000' });
    const userId = randomUUID();
    const app = await h.marketplace.apply({
      userId,
      product: 'loan',
      amount: 200_000n,
      termMonths: 12,
      regionCode: '770101',
    });
    const outcome = (id: string) => app.routing.find((r) => r.partnerId === id)?.outcome;
    expect([outcome(aboveAsked.id), outcome(belowMin.id), outcome(fair.id)]).toEqual([
      'no_offer',
      'no_offer',
      'offered',
    ]);
    expect(app.offers.filter((o) => o.source === 'partner').map((o) => [o.partnerId, o.amount])).toEqual([
      [fair.id, 150_000n],
    ]);
  });

  it('checks the co-debt guard at choice against the amount the post carries', async () => {
    const p = await customPartner('78');
    const userId = randomUUID();
    const app = await h.marketplace.apply({
      userId,
      product: 'loan',
      amount: 100_000n,
      termMonths: 12,
      regionCode: '780101',
    });
    const offer = app.offers.find((o) => o.partnerId === p.id)!;
    // An offer stored larger than the amount asked (as routing once let through): past the
    // 500,000.00 CNY applied in 90 days on its own.
    await h.t.db.query('UPDATE marketplace_offers SET amount = 60000000 WHERE id = $1', [offer.id]);
    const refused = await h.marketplace
      .choose({
        userId,
        applicationId: app.id,
        offerId: offer.id,
        consentFields: ['real_name'],
        applicant: { real_name: '王' },
      })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'MARKETPLACE_CO_DEBT_LIMIT' });
    expect(p.posts).toHaveLength(0);
    expect((await h.marketplace.getApplication(app.id)).status).toBe('offered');
  });

  it('refuses an offer of a partner paused or terminated since routing, and sends it nothing', async () => {
    const p = await simPartner('79', { latencyMs: 1, approvalByBand: { B: 1 }, disburse: false });
    const user = await newCustomer(h);
    for (const status of ['paused', 'terminated'] as const) {
      await h.post(`/v1/operator/marketplace/partners/${p.id}/status`, { status: 'active' });
      const created = await h.post(
        '/v1/marketplace/applications',
        { amount: '1000000', term_months: 12, region_code: '790101' },
        { key: user.token },
      );
      expect(created.statusCode, created.body).toBe(201);
      const app = created.json();
      const offer = app.offers.find((o: { partner_id: string }) => o.partner_id === p.id);
      expect(offer, created.body).toBeDefined();
      expect((await h.post(`/v1/operator/marketplace/partners/${p.id}/status`, { status })).statusCode).toBe(
        200,
      );
      const chosen = await h.post(
        `/v1/marketplace/applications/${app.id}/choose`,
        { offer_id: offer.id, consent: { fields: ['real_name'] }, applicant: { real_name: '王小明' } },
        { key: user.token },
      );
      expect(chosen.statusCode, chosen.body).toBe(409);
      expect(chosen.headers['content-type']).toContain('application/problem+json');
      expect(chosen.json()).toMatchObject({ code: 'MARKETPLACE_PARTNER_INACTIVE', partner_status: status });
      expect(p.sim.received.posts).toHaveLength(0);
      const consents = await h.t.db.query('SELECT 1 FROM marketplace_consents WHERE application_id = $1', [
        app.id,
      ]);
      expect(consents.rows).toHaveLength(0);
      expect((await h.marketplace.getApplication(app.id)).status).toBe('offered');
    }
  });
});

describe('settlement', () => {
  /** A partner-sim with one approved and disbursed application in July 2025 (Shanghai). */
  async function julyPartner(region: string, sim: Omit<PartnerSimOptions, 'secret'> = {}) {
    const p = await simPartner(region.slice(0, 2), { latencyMs: 1, approvalByBand: { B: 1 }, ...sim });
    const { app } = await atTime('2025-07-15T00:00:00Z', async () => {
      const chosen = await applyAndChoose(region, p.id);
      await waitFor(() => p.sim.callbacks.length >= 2);
      await p.sim.idle();
      return chosen;
    });
    return { ...p, applicationId: app.id };
  }
  const settle = (partnerId: string, month: string) =>
    atTime('2025-08-01T00:00:00Z', () =>
      h.post(`/v1/operator/marketplace/partners/${partnerId}/settlements`, { month }),
    );

  it('lists a row the partner reported twice', async () => {
    const p = await julyPartner('810101', { tamperReport: (rows) => [...rows, ...rows] });
    const s = await settle(p.id, '2025-07');
    expect(s.statusCode, s.body).toBe(201);
    expect(s.json().discrepancies).toEqual([
      { application_id: p.applicationId, field: 'duplicate_at_partner', platform: '1', partner: '2' },
    ]);
    expect(s.json().partner.applications).toBe(2);
    expect(s.json().platform.applications).toBe(1);
  });

  it('matches application ids the partner reported in upper case', async () => {
    const p = await julyPartner('960101', {
      tamperReport: (rows) => rows.map((r) => ({ ...r, application_id: r.application_id.toUpperCase() })),
    });
    const s = await settle(p.id, '2025-07');
    expect(s.statusCode, s.body).toBe(201);
    expect(s.json().discrepancies).toEqual([]);
    expect(s.json().partner.applications).toBe(1);
  });

  it('lists an application id that is no UUID as invalid, not as lost by the platform', async () => {
    const p = await julyPartner('970101', {
      tamperReport: (rows) => [...rows, { ...rows[0]!, application_id: 'APP-0042' }],
    });
    const s = await settle(p.id, '2025-07');
    expect(s.statusCode, s.body).toBe(201);
    expect(s.json().discrepancies).toEqual([
      { application_id: 'APP-0042', field: 'invalid_id_at_partner', platform: null, partner: 'present' },
    ]);
    // The partner's totals are what it sent, the row without a valid id included.
    expect(s.json().partner.applications).toBe(2);
  });

  it('refuses a report of another month, settling nothing', async () => {
    const p = await customPartner('82', { onReport: () => ({ month: '2025-06', rows: [] }) });
    const s = await settle(p.id, '2025-07');
    expect(s.statusCode, s.body).toBe(502);
    expect(s.json()).toMatchObject({ code: 'MARKETPLACE_PARTNER_UNAVAILABLE', report_month: '2025-06' });
    expect((await h.get(`/v1/operator/marketplace/partners/${p.id}/settlements`)).json().items).toEqual([]);
  });

  it('refuses a payment id used again for another amount', async () => {
    const p = await julyPartner('830101');
    const s = await settle(p.id, '2025-07');
    expect(s.statusCode, s.body).toBe(201);
    const id = s.json().id as string;
    const paymentId = randomUUID();
    const pay = (amount: string) =>
      h.post(`/v1/operator/marketplace/settlements/${id}/payments`, { payment_id: paymentId, amount });
    const first = await pay('100');
    expect(first.statusCode, first.body).toBe(201);
    const retry = await pay('100');
    expect([retry.statusCode, retry.json().paid]).toEqual([201, '100']);
    const other = await pay('999');
    expect(other.statusCode, other.body).toBe(409);
    expect(other.json().code).toBe('ENTRY_ID_CONFLICT');
    expect((await h.get(`/v1/operator/marketplace/partners/${p.id}/settlements`)).json().items[0].paid).toBe(
      '100',
    );
  });
});

describe('settlement after a failure', () => {
  it('refuses a report with an application id no record can keep, settling nothing', async () => {
    for (const applicationId of ['a\u0000b', 'x'.repeat(129)]) {
      const p = await customPartner('92', {
        onReport: () => ({
          month: '2025-05',
          rows: [
            { application_id: applicationId, approved: true, disbursed_amount: '0', repaid_interest: '0' },
          ],
        }),
      });
      const s = await atTime('2025-08-01T00:00:00Z', () =>
        h.post(`/v1/operator/marketplace/partners/${p.id}/settlements`, { month: '2025-05' }),
      );
      expect(s.statusCode, s.body).toBe(502);
      expect(s.json().code).toBe('MARKETPLACE_PARTNER_UNAVAILABLE');
      expect((await h.get(`/v1/operator/marketplace/partners/${p.id}/settlements`)).json().items).toEqual([]);
    }
  });

  it('posts the invoice before a payment when the invoice entry failed after the settlement was written', async () => {
    const p = await simPartner('93', { latencyMs: 1, approvalByBand: { B: 1 } });
    await atTime('2025-07-15T00:00:00Z', async () => {
      await applyAndChoose('930101', p.id);
      await waitFor(() => p.sim.callbacks.length >= 2);
      await p.sim.idle();
    });
    const ledgerDown = vi.spyOn(h.ledger, 'transfer').mockRejectedValueOnce(new Error('ledger unavailable'));
    try {
      const failed = await atTime('2025-08-01T00:00:00Z', () =>
        h.post(`/v1/operator/marketplace/partners/${p.id}/settlements`, { month: '2025-07' }),
      );
      expect(failed.statusCode).toBe(500);
    } finally {
      ledgerDown.mockRestore();
    }
    const [settlement] = (await h.get(`/v1/operator/marketplace/partners/${p.id}/settlements`)).json().items;
    expect(settlement.invoice).toBe('20000');
    const paid = await h.post(`/v1/operator/marketplace/settlements/${settlement.id}/payments`, {
      payment_id: randomUUID(),
      amount: '20000',
    });
    expect(paid.statusCode, paid.body).toBe(201);
    expect(paid.json().status).toBe('paid');
    const receivable = (await h.get(`/v1/ledger/accounts/${receivableAccountId(p.id)}`)).json().balances;
    expect([receivable.debits_posted, receivable.credits_posted]).toEqual(['20000', '20000']);
  });
});

describe('settlement with ids as sent', () => {
  async function julyPartner(region: string) {
    const p = await simPartner(region.slice(0, 2), { latencyMs: 1, approvalByBand: { B: 1 } });
    await atTime('2025-07-15T00:00:00Z', async () => {
      await applyAndChoose(region, p.id);
      await waitFor(() => p.sim.callbacks.length >= 2);
      await p.sim.idle();
    });
    return p;
  }
  const settle = (partnerId: string, month: string) =>
    atTime('2025-08-01T00:00:00Z', () =>
      h.post(`/v1/operator/marketplace/partners/${partnerId}/settlements`, { month }),
    );
  const balances = async (partnerId: string) =>
    (await h.get(`/v1/ledger/accounts/${receivableAccountId(partnerId)}`)).json().balances as JsonObject;

  it('posts a payment retried with its id in capitals to the ledger once', async () => {
    const p = await julyPartner('890101');
    const s = await settle(p.id, '2025-07');
    expect(s.statusCode, s.body).toBe(201);
    const id = s.json().id as string;
    const paymentId = randomUUID();
    const pay = (settlementId: string, payment: string) =>
      h.post(`/v1/operator/marketplace/settlements/${settlementId}/payments`, {
        payment_id: payment,
        amount: '100',
      });
    expect((await pay(id, paymentId)).statusCode).toBe(201);
    for (const retry of [await pay(id, paymentId.toUpperCase()), await pay(id.toUpperCase(), paymentId)]) {
      expect(retry.statusCode, retry.body).toBe(201);
      expect(retry.json().paid).toBe('100');
    }
    expect((await balances(p.id)).credits_posted).toBe('100');
    expect((await h.get('/v1/ledger/verify')).json().ok).toBe(true);
  });

  it('invoices a partner named by its id in capitals into its own receivable', async () => {
    const p = await julyPartner('910101');
    const s = await settle(p.id.toUpperCase(), '2025-07');
    expect(s.statusCode, s.body).toBe(201);
    expect(s.json().invoice).toBe('20000');
    expect((await balances(p.id)).debits_posted).toBe('20000');
    const again = await settle(p.id, '2025-07');
    expect([again.statusCode, again.json().id]).toEqual([201, s.json().id]);
    const paid = await h.post(`/v1/operator/marketplace/settlements/${s.json().id}/payments`, {
      payment_id: randomUUID(),
      amount: '20000',
    });
    expect(paid.statusCode, paid.body).toBe(201);
    expect(paid.json().status).toBe('paid');
    expect((await balances(p.id)).posted).toBe('0');
  });
});

describe('bad input', () => {
  const problem = (res: ApiResponse, status: number, code: string) => {
    expect(res.statusCode).toBe(status);
    expect(String(res.headers['content-type'])).toContain('application/problem+json');
    expect(res.json().code).toBe(code);
  };

  it('answers a month that is no month, or out of range, with 400', async () => {
    const p = await customPartner('84');
    for (const month of ['9999-12', '2025-00', '2025-13', '0999-12'])
      problem(
        await h.post(`/v1/operator/marketplace/partners/${p.id}/settlements`, { month }),
        400,
        'VALIDATION_FAILED',
      );
  });

  it('answers a settlement id that is not a UUID with 404', async () => {
    problem(
      await h.post('/v1/operator/marketplace/settlements/not-a-uuid/payments', {
        payment_id: randomUUID(),
        amount: '1',
      }),
      404,
      'MARKETPLACE_SETTLEMENT_NOT_FOUND',
    );
  });

  it('answers ids of a UUID’s length that are no UUID with 404, not 500', async () => {
    const user = await newCustomer(h);
    for (const id of ['-'.repeat(36), 'a'.repeat(36)]) {
      const partnerNotFound = [
        await h.get(`/v1/operator/marketplace/partners/${id}`),
        await h.get(`/v1/operator/marketplace/partners/${id}/funnel?from=2025-07-01&to=2025-07-31`),
        await h.get(`/v1/operator/marketplace/partners/${id}/settlements`),
        await h.post(`/v1/operator/marketplace/partners/${id}/settlements`, { month: '2025-05' }),
        await h.post(`/v1/operator/marketplace/partners/${id}/status`, { status: 'paused' }),
        await callback(id, generateWebhookSecret(), { type: 'approved', application_id: randomUUID() }),
      ];
      for (const res of partnerNotFound) problem(res, 404, 'MARKETPLACE_PARTNER_NOT_FOUND');
      problem(
        await h.post(`/v1/operator/marketplace/settlements/${id}/payments`, {
          payment_id: randomUUID(),
          amount: '1',
        }),
        404,
        'MARKETPLACE_SETTLEMENT_NOT_FOUND',
      );
      problem(
        await h.get(`/v1/operator/marketplace/applications/${id}`),
        404,
        'MARKETPLACE_APPLICATION_NOT_FOUND',
      );
      problem(
        await h.post(
          `/v1/marketplace/applications/${id}/choose`,
          { offer_id: id, consent: { fields: ['real_name'] }, applicant: { real_name: '王' } },
          { key: user.token },
        ),
        404,
        'MARKETPLACE_APPLICATION_NOT_FOUND',
      );
      problem(
        await h.post(`/v1/marketplace/consents/${id}/withdraw`, {}, { key: user.token }),
        404,
        'MARKETPLACE_CONSENT_NOT_FOUND',
      );
    }
  });

  it('answers a daily cap past what the column holds with 400', async () => {
    const p = await customPartner('85');
    problem(
      await h.post(`/v1/operator/marketplace/partners/${p.id}/limits`, {
        daily_cap: 1e12,
        monthly_budget: null,
      }),
      400,
      'VALIDATION_FAILED',
    );
    problem(
      await h.post('/v1/operator/marketplace/partners', {
        name: `proto-${randomUUID().slice(0, 8)}`,
        kind: 'lender',
        endpoint_url: 'http://127.0.0.1:1',
        eligibility: {
          score_bands: ['B'],
          min_amount: '100000',
          max_amount: '30000000',
          min_term_months: 3,
          max_term_months: 36,
        },
        pricing: { cpa: '5000', cps_bp: 150 },
        daily_cap: 1e12,
      }),
      400,
      'VALIDATION_FAILED',
    );
    const capped = await h.post(`/v1/operator/marketplace/partners/${p.id}/limits`, {
      daily_cap: 2_147_483_647,
      monthly_budget: null,
    });
    expect(capped.statusCode, capped.body).toBe(200);
    expect(capped.json().daily_cap).toBe(2_147_483_647);
  });
});
