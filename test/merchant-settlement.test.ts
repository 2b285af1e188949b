import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addDays, endOfBusinessDate, type CloseStepContext } from '../src/jobs/index.ts';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';
import { newCustomer, type Customer } from './support/customers.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});
afterEach(async () => {
  const report = await h.ledger.verify();
  expect(report.checks.filter((c) => !c.ok)).toEqual([]);
});

let day = '2025-06-01';

/** Moves the clock to 10:00 of the next business date to trade on; returns that date. */
function nextDay(): string {
  day = addDays(day, 1);
  h.clock.set(`${day}T10:00:00+08:00`);
  return day;
}

const customer = (funds = 1_000_000n): Promise<Customer> => newCustomer(h, { funds, accountClass: 'III' });

async function merchant(extra: JsonObject = {}): Promise<{ id: string; key: string; secret: string }> {
  const created = await h.post('/v1/operator/merchants', {
    name: `结算测试店 ${randomUUID().slice(0, 8)}`,
    fee_bps: 60,
    ...extra,
  });
  expect(created.statusCode, created.body).toBe(201);
  const id = created.json().id as string;
  const key = await h.post(`/v1/operator/merchants/${id}/api-keys`, {
    name: 'till',
    scopes: ['payments:write', 'payments:read', 'refunds:write'],
  });
  return { id, key: key.json().key as string, secret: created.json().signing_secret as string };
}

async function pay(m: { key: string }, c: { token: string }, amount: string, extra: JsonObject = {}) {
  const o = await h.post(
    '/v1/merchant/payment-orders',
    { merchant_reference: randomUUID().slice(0, 20), amount, description: 'goods' },
    { key: m.key },
  );
  expect(o.statusCode, o.body).toBe(201);
  const paid = await h.post(
    `/v1/payment-orders/${o.json().id}/pay`,
    { method: 'balance', ...extra },
    {
      key: c.token,
    },
  );
  expect(paid.statusCode, paid.body).toBe(201);
  return paid.json();
}

async function report(m: { key: string }, from: string, to = from): Promise<JsonObject[]> {
  const res = await h.get(`/v1/merchant/settlements?from=${from}&to=${to}`, m.key);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().items as JsonObject[];
}

async function payable(m: { id: string }) {
  return h.merchants.merchantBalance(m.id);
}

async function feeIncome(): Promise<bigint> {
  const accounts = await h.ledger.listAccounts({ limit: 500 });
  const fee = accounts.items.find((a) => a.code === 'fee_income')!;
  return (await h.ledger.getAccount(fee.id)).balances.posted;
}

async function close(date: string) {
  const run = await h.endOfDay.close(date, { fastForward: true });
  expect(run.status).toBe('completed');
  return run;
}

async function payoutSettled(m: { key: string }, date: string): Promise<JsonObject> {
  for (let i = 0; i < 400; i++) {
    const [s] = await report(m, date);
    if (s?.payout && s.payout.status !== 'sent' && s.payout.status !== 'scheduled') return s;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('the payout never settled');
}

describe('merchant settlement in the end-of-day close', () => {
  it('nets the day of half-even fees, pays out T+1, and closing again changes nothing', async () => {
    const shop = await merchant();
    expect(shop.secret).toMatch(/^whsec_/);
    const hook = await h.post(
      '/v1/merchant/webhook-endpoints',
      { url: 'http://127.0.0.1:9/hooks' },
      { key: shop.key },
    );
    expect(hook.statusCode, hook.body).toBe(201);
    expect(hook.json().secret).toMatch(/^whsec_/);
    const d = nextDay();
    const alice = await customer();
    const feesBefore = await feeIncome();
    // Fees at 60 bp: 1.5 → 2, 4.5 → 4, 7.5 → 8, 2.502 → 3, 0.45 → 0 fen.
    const payments = [];
    for (const amount of ['250', '750', '1250', '417', '75']) payments.push(await pay(shop, alice, amount));
    const refund = await h.post(
      '/v1/merchant/refunds',
      { payment_id: payments[2].id, amount: '100' },
      { key: shop.key },
    );
    expect(refund.statusCode, refund.body).toBe(201);

    await close(d);
    const [s] = await report(shop, d);
    expect(s).toMatchObject({
      business_date: d,
      payments_count: 5,
      gross: '2742',
      refunds_count: 1,
      refunds: '100',
      fees: '17',
      net: '2625',
      fees_collected: '17',
      payout_amount: '2625',
      payout: { status: 'scheduled', due_date: addDays(d, 1), amount: '2625', attempt: 1 },
    });
    expect(await feeIncome()).toBe(feesBefore + 17n);
    // The payout is held in merchant_payable until the bank pays it.
    expect(await payable(shop)).toEqual({ posted: 2625n, available: 0n });

    // Closing again, or running the step again, changes nothing.
    await close(d);
    await h.merchants.closeSteps()[0]!.run(ctxFor(d));
    expect(await report(shop, d)).toEqual([s]);
    expect(await feeIncome()).toBe(feesBefore + 17n);

    const d2 = nextDay();
    await close(d2);
    const paid = await payoutSettled(shop, d);
    expect(paid.payout).toMatchObject({ status: 'paid', amount: '2625', attempt: 1 });
    expect(await payable(shop)).toEqual({ posted: 0n, available: 0n });
    expect(await report(shop, d2)).toEqual([]); // no activity on d2
    const operatorView = await h.get(`/v1/operator/merchants/${shop.id}/settlements?from=${d}&to=${d2}`);
    expect(operatorView.json().items).toHaveLength(1);

    const deliveries = await h.webhooks.listDeliveries({ ownerId: shop.id, limit: 100 });
    const types = deliveries.items.map((x) => x.eventType).sort();
    expect(types).toEqual([
      'payment.succeeded',
      'payment.succeeded',
      'payment.succeeded',
      'payment.succeeded',
      'payment.succeeded',
      'refund.succeeded',
      'settlement.paid',
    ]);
    const settled = deliveries.items.find((x) => x.eventType === 'settlement.paid')!;
    expect(JSON.parse(settled.body).data).toMatchObject({ amount: '2625', business_date: d });
  });

  it('a refund after midnight that empties the payable before the close waits the booking, correct to the fen', async () => {
    const shop = await merchant();
    const d = nextDay();
    const carol = await customer();
    const feesBefore = await feeIncome();
    const first = await pay(shop, carol, '10000');
    // After the day's end, before its close: the whole payment is refunded from merchant_payable.
    h.clock.set(`${addDays(d, 1)}T00:30:00+08:00`);
    const refund = await h.post(
      '/v1/merchant/refunds',
      { payment_id: first.id, amount: '10000' },
      { key: shop.key },
    );
    expect(refund.statusCode, refund.body).toBe(201);
    expect(await payable(shop)).toEqual({ posted: 0n, available: 0n });

    // The close completes: d's figures are d's (the refund belongs to the next day), its booking waits.
    await close(d);
    expect((await report(shop, d))[0]).toMatchObject({
      gross: '10000',
      refunds: '0',
      fees: '60',
      fees_collected: '60',
      payout_amount: '9940',
      payout: { status: 'scheduled', attempt: 1 },
    });
    expect(await feeIncome()).toBe(feesBefore);

    // The next day brings money: its close first books d (fees, payout held, and sent as due), then
    // settles the next day with the refund.
    const d2 = nextDay();
    await pay(shop, await customer(), '20000');
    await close(d2);
    expect((await report(shop, d2))[0]).toMatchObject({
      gross: '20000',
      refunds: '10000',
      fees: '120',
      fees_collected: '120',
      payout_amount: '9880',
    });
    expect(await feeIncome()).toBe(feesBefore + 60n + 120n);
    expect((await payoutSettled(shop, d)).payout).toMatchObject({
      status: 'paid',
      amount: '9940',
      attempt: 1,
    });
    // Everything the two days left is held for d2's payout: nothing stays behind or goes missing.
    expect(await payable(shop)).toEqual({ posted: 9880n, available: 0n });
    await close(nextDay());
    expect((await payoutSettled(shop, d2)).payout).toMatchObject({ status: 'paid', amount: '9880' });
    expect(await payable(shop)).toEqual({ posted: 0n, available: 0n });
  });

  it('a failed payout returns the money to merchant_payable and is retried at the next close', async () => {
    const shop = await merchant({ settlement_card_token: 'sandbox_fail' });
    const d = nextDay();
    const bob = await customer();
    await pay(shop, bob, '10000');
    await close(d);
    expect((await report(shop, d))[0]).toMatchObject({ fees: '60', payout_amount: '9940' });

    await close(nextDay());
    const failed = await payoutSettled(shop, d);
    expect(failed.payout).toMatchObject({ status: 'failed', attempt: 1, failure_code: 'BANK_DECLINED' });
    expect(await payable(shop)).toEqual({ posted: 9940n, available: 9940n });

    const fixed = await h.post(`/v1/operator/merchants/${shop.id}/settlement-account`, {
      card_token: 'card_ok',
    });
    expect(fixed.json().settlement_card_token).toBe('card_ok');
    await close(nextDay());
    const retried = await payoutSettled(shop, d);
    expect(retried.payout).toMatchObject({ status: 'paid', attempt: 2, failure_code: null });
    expect(await payable(shop)).toEqual({ posted: 0n, available: 0n });

    // A declined card fails the payment, and the merchant's endpoint hears of it.
    await h.post('/v1/merchant/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks' }, { key: shop.key });
    const dave = await customer(0n);
    const o = await h.post(
      '/v1/merchant/payment-orders',
      { merchant_reference: 'card-1', amount: '500', description: 'goods' },
      { key: shop.key },
    );
    await h.post(
      `/v1/payment-orders/${o.json().id}/pay`,
      { method: 'bank_card', card_token: 'sandbox_decline' },
      { key: dave.token },
    );
    const hooks = await h.webhooks.listDeliveries({ ownerId: shop.id, limit: 100 });
    expect(hooks.items.map((x) => x.eventType)).toEqual(['payment.failed']);
    expect(JSON.parse(hooks.items[0]!.body).data).toMatchObject({
      amount: '500',
      failure_code: 'BANK_DECLINED',
    });
  });

  it('a bank error on one payout leaves it to the next close and pays the others, under one reference', async () => {
    // Before, a connector error other than a decline or a timeout (a 5xx, a reset connection)
    // failed the whole step: the close stopped there and every later merchant's payout waited.
    const broken = await merchant({ settlement_card_token: 'card_bank_5xx' });
    const fine = await merchant();
    const d = nextDay();
    const erin = await customer();
    await pay(broken, erin, '10000');
    await pay(fine, erin, '5000');
    await close(d);

    const requestCredit = h.bank.requestCredit.bind(h.bank);
    const references: string[] = [];
    let outage = true;
    h.bank.requestCredit = async (request) => {
      if (request.cardToken !== 'card_bank_5xx') return requestCredit(request);
      references.push(request.reference);
      if (outage) throw new Error('bank gateway answered 503');
      return requestCredit(request);
    };
    try {
      await close(nextDay());
      expect((await payoutSettled(fine, d)).payout).toMatchObject({ status: 'paid', attempt: 1 });
      const [waiting] = await report(broken, d);
      expect(waiting!.payout).toMatchObject({ status: 'sent', attempt: 1, failure_code: 'BANK_UNAVAILABLE' });
      expect(await payable(broken)).toEqual({ posted: 9940n, available: 0n });

      // The bank still down at the next close: the payout still waits, its hold kept.
      await close(nextDay());
      expect((await report(broken, d))[0]!.payout).toMatchObject({ status: 'sent', attempt: 1 });
      outage = false;
      await close(nextDay());
      expect((await payoutSettled(broken, d)).payout).toMatchObject({
        status: 'paid',
        attempt: 1,
        failure_code: null,
      });
      expect(await payable(broken)).toEqual({ posted: 0n, available: 0n });
      expect(references).toHaveLength(3);
      expect(new Set(references).size).toBe(1);
    } finally {
      h.bank.requestCredit = requestCredit;
    }
  });

  it('a payout the bank took before its answer was lost is paid once', async () => {
    const shop = await merchant({ settlement_card_token: 'card_lost_answer' });
    const d = nextDay();
    await pay(shop, await customer(), '10000');
    await close(d);
    const requestCredit = h.bank.requestCredit.bind(h.bank);
    const references: string[] = [];
    h.bank.requestCredit = async (request) => {
      if (request.cardToken !== 'card_lost_answer') return requestCredit(request);
      references.push(request.reference);
      await requestCredit(request);
      throw new Error('connection reset');
    };
    try {
      await close(nextDay());
      expect((await payoutSettled(shop, d)).payout).toMatchObject({ status: 'paid', attempt: 1 });
      await close(nextDay());
      expect((await report(shop, d))[0]!.payout).toMatchObject({ status: 'paid', attempt: 1 });
      expect(references).toHaveLength(1);
      expect(await payable(shop)).toEqual({ posted: 0n, available: 0n });
    } finally {
      h.bank.requestCredit = requestCredit;
    }
  });

  it('resumes after the last checkpointed merchant and settles each merchant once', async () => {
    const shops = [await merchant(), await merchant(), await merchant()];
    const d = nextDay();
    const carol = await customer();
    for (const shop of shops) await pay(shop, carol, '2500'); // fee 15 each
    const feesBefore = await feeIncome();
    const [step] = h.merchants.closeSteps({ chunkSize: 1 });
    let cursor: string | null = null;
    let checkpoints = 0;
    const crashing: CloseStepContext = {
      ...ctxFor(d),
      async checkpoint(next) {
        cursor = next;
        checkpoints += 1;
        if (checkpoints === 2) throw new Error('the process died');
      },
    };
    await expect(step!.run(crashing)).rejects.toThrow('the process died');
    await step!.run({ ...ctxFor(d), cursor });
    await step!.run(ctxFor(d));
    await close(d);
    for (const shop of shops) {
      const rows = await report(shop, d);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ gross: '2500', fees: '15', payout_amount: '2485' });
      expect(await payable(shop)).toEqual({ posted: 2485n, available: 0n });
    }
    expect(await feeIncome()).toBe(feesBefore + 45n);
  });

  it('validates the report range and a notify URL the webhooks would not call', async () => {
    const shop = await merchant();
    expect((await h.get('/v1/merchant/settlements?from=2025-06-10&to=2025-06-01', shop.key)).statusCode).toBe(
      400,
    );
    // 366 days pass and 367 do not, also at the end of year 9999.
    expect((await h.get('/v1/merchant/settlements?from=2024-01-01&to=2024-12-31', shop.key)).statusCode).toBe(
      200,
    );
    expect((await h.get('/v1/merchant/settlements?from=2024-01-01&to=2025-01-01', shop.key)).statusCode).toBe(
      400,
    );
    const lastDay = await h.get('/v1/merchant/settlements?from=9999-12-31&to=9999-12-31', shop.key);
    expect(lastDay.statusCode, lastDay.body).toBe(200);
    expect((await h.get('/v1/merchant/settlements?from=9998-12-01&to=9999-12-31', shop.key)).statusCode).toBe(
      400,
    );
    // And at the start of year 0001, where counting 365 days back from `to` leaves the calendar.
    const firstDays = await h.get('/v1/merchant/settlements?from=0001-01-01&to=0001-01-05', shop.key);
    expect(firstDays.statusCode, firstDays.body).toBe(200);
    expect((await h.get('/v1/merchant/settlements?from=0001-01-01&to=0002-01-02', shop.key)).statusCode).toBe(
      400,
    );
    const bad = await h.post(
      '/v1/merchant/payment-orders',
      { merchant_reference: 'x1', amount: '100', description: 'd', notify_url: 'http://example.com/notify' },
      { key: shop.key },
    );
    expect(bad.json().code).toBe('WEBHOOK_URL_INVALID');
    const list = await h.get('/v1/merchant/webhook-endpoints', shop.key);
    expect(list.json().items).toEqual([]);
  });
});

function ctxFor(businessDate: string): CloseStepContext {
  return { businessDate, asOf: endOfBusinessDate(businessDate), cursor: null, checkpoint: async () => {} };
}
