import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BankOutcome, BankRequest } from '../src/wallet/index.ts';
import { openApiHarness, type ApiHarness } from './support/api-harness.ts';
import { newCustomer } from './support/customers.ts';
import { newMerchant } from './support/merchants.ts';

/**
 * Reconciliation of bank_card payments asks the bank about every payment still pending, however many
 * the bank keeps pending, and one payment it cannot ask about or end does not stop the others.
 */
let h: ApiHarness;
let shop: { id: string; key: string };
/** What the bank answers per payment id (absent: no record), and every payment it was asked about. */
const answers = new Map<string, BankOutcome | 'pending'>();
let asked: string[] = [];
let statusFailsFor = new Set<string>();
let logs: Array<{ level: 'warn' | 'error'; fields: Record<string, unknown>; message: string }> = [];
const logger = {
  warn: (fields: object, message: string) => logs.push({ level: 'warn', fields: { ...fields }, message }),
  error: (fields: object, message: string) => logs.push({ level: 'error', fields: { ...fields }, message }),
} as unknown as NonNullable<Parameters<ApiHarness['merchants']['reconcileCardPayments']>[1]>['logger'];
const paymentOf = (reference: string) => reference.replace(/^payment-/, '');

beforeAll(async () => {
  h = await openApiHarness();
  // A bank that takes card debits and never calls back: only reconciliation can end them.
  h.bank.requestDebit = (request: BankRequest) => {
    answers.set(paymentOf(request.reference), 'pending');
    return Promise.resolve({ bankReference: `B-${request.reference}` });
  };
  h.bank.status = (reference: string) => {
    const id = paymentOf(reference);
    asked.push(id);
    if (statusFailsFor.has(id)) return Promise.reject(new Error('read ECONNRESET'));
    return Promise.resolve(answers.get(id) ?? 'unknown');
  };
  shop = await newMerchant(h, 'card reconciliation shop');
});
afterAll(async () => {
  await h.close();
});
beforeEach(async () => {
  // Each test sees only its own pending card payments.
  await h.t.db.query(
    `UPDATE merchants_payments SET status = 'failed' WHERE status = 'pending' AND method = 'bank_card'`,
  );
  asked = [];
  statusFailsFor = new Set();
  logs = [];
});

/** An order paid by card: the payment pending until the bank settles it. */
async function cardPayment(amount: string): Promise<{ paymentId: string; orderId: string }> {
  const user = await newCustomer(h, { funds: 0n });
  const order = await h.post(
    '/v1/merchant/payment-orders',
    { merchant_reference: `card-rec-${Math.random()}`, amount, description: 'x' },
    { key: shop.key },
  );
  expect(order.statusCode, order.body).toBe(201);
  const orderId = order.json<{ id: string }>().id;
  const pay = await h.post(
    `/v1/payment-orders/${orderId}/pay`,
    { method: 'bank_card', card_token: 'card_ok' },
    { key: user.token },
  );
  expect(pay.statusCode, pay.body).toBe(201);
  expect(pay.json()).toMatchObject({ status: 'pending' });
  return { paymentId: pay.json<{ id: string }>().id, orderId };
}

const statusOf = async (paymentId: string) =>
  (await h.get(`/v1/merchant/payments/${paymentId}`, shop.key)).json<{ status: string }>().status;

describe('reconciling bank_card payments', () => {
  it('asks about every pending payment, past the first 500 the bank still calls pending, each once', async () => {
    const newest = await cardPayment('2500');
    // 520 older pending card payments (copies of the newest, without its order), three to a
    // millisecond so pages end inside a run of equal created_at; the bank calls them pending.
    const older = await h.t.db.query<{ id: string }>(
      `INSERT INTO merchants_payments (id, merchant_id, user_id, order_id, source, method, method_details,
         amount, currency, fee_bps, description, usage_period, status, created_at, updated_at)
       SELECT gen_random_uuid(), merchant_id, user_id, NULL, 'code', method, method_details, amount, currency,
              fee_bps, description, usage_period, 'pending',
              created_at - interval '1 hour' + (g / 3) * interval '1 millisecond', updated_at
         FROM merchants_payments, generate_series(0, 519) AS g
        WHERE id = $1
       RETURNING id`,
      [newest.paymentId],
    );
    for (const { id } of older.rows) answers.set(id, 'pending');
    answers.set(newest.paymentId, 'succeeded');
    h.clock.advance(61_000);
    expect(await h.merchants.reconcileCardPayments()).toBe(1);
    expect(await statusOf(newest.paymentId)).toBe('succeeded');
    expect((await h.get(`/v1/merchant/payment-orders/${newest.orderId}`, shop.key)).json().status).toBe(
      'paid',
    );
    // In pages: every payment asked about once, none twice at a page's edge.
    expect(asked).toHaveLength(521);
    expect(new Set(asked)).toEqual(new Set([...older.rows.map((r) => r.id), newest.paymentId]));
  });

  it('skips a payment the bank cannot be asked about (logged) and ends the others', async () => {
    const unreachable = await cardPayment('1100');
    const paid = await cardPayment('1200');
    const unknown = await cardPayment('1300');
    answers.set(unreachable.paymentId, 'succeeded');
    answers.set(paid.paymentId, 'succeeded');
    answers.delete(unknown.paymentId); // the bank has no record of it
    statusFailsFor.add(unreachable.paymentId);
    h.clock.advance(61_000);
    expect(await h.merchants.reconcileCardPayments(60_000, { logger })).toBe(2);
    expect(await statusOf(unreachable.paymentId)).toBe('pending');
    expect(await statusOf(paid.paymentId)).toBe('succeeded');
    expect(await statusOf(unknown.paymentId)).toBe('failed');
    expect(logs).toEqual([
      expect.objectContaining({
        level: 'warn',
        fields: expect.objectContaining({ paymentId: unreachable.paymentId }),
      }),
    ]);
    // Asked again next run, when the bank answers.
    statusFailsFor.clear();
    expect(await h.merchants.reconcileCardPayments()).toBe(1);
    expect(await statusOf(unreachable.paymentId)).toBe('succeeded');
  });

  it('ends the others when one cannot be ended, then throws its error', async () => {
    const stuck = await cardPayment('1400');
    const paid = await cardPayment('1500');
    answers.set(stuck.paymentId, 'succeeded');
    answers.set(paid.paymentId, 'succeeded');
    // The ledger cannot post the older one's entry: no bank clearing account in its currency.
    await h.t.db.query(`UPDATE merchants_payments SET currency = 'XTS' WHERE id = $1`, [stuck.paymentId]);
    h.clock.advance(61_000);
    await expect(h.merchants.reconcileCardPayments(60_000, { logger })).rejects.toMatchObject({
      code: 'ACCOUNT_NOT_FOUND',
    });
    expect(await statusOf(stuck.paymentId)).toBe('pending');
    expect(await statusOf(paid.paymentId)).toBe('succeeded');
    expect(logs).toEqual([
      expect.objectContaining({
        level: 'error',
        fields: expect.objectContaining({ paymentId: stuck.paymentId }),
      }),
    ]);
  });
});
