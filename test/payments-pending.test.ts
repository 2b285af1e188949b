import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MilletError } from '../src/core/index.ts';
import { addDays } from '../src/jobs/index.ts';
import type { TransferCommand } from '../src/ledger/index.ts';
import { paymentCode } from '../src/merchants/index.ts';
import { openApiHarness, type ApiHarness, type JsonObject } from './support/api-harness.ts';
import { newCustomer, type Customer } from './support/customers.ts';
import { expectLedgerVerifies } from './support/ledger-verify.ts';

/**
 * Payments and refunds whose ledger call ended undecided stay pending until the pending sweep
 * (`merchants.reconcilePending`, job `merchants.pending-reconciliation`) drives them on.
 */
let h: ApiHarness;
beforeAll(async () => {
  h = await openApiHarness();
});
afterAll(async () => {
  await h.close();
});

type Transfer = (command: TransferCommand, ...rest: unknown[]) => Promise<unknown>;
const ledger = () => h.ledger as unknown as { transfer: Transfer };
let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
});

/**
 * Makes the ledger's transfers matching `which` fail as undecided: before posting (the ledger
 * shutting down) or after it committed (the answer lost on the way back).
 */
function ledgerUndecided(which: (command: TransferCommand) => boolean, when: 'before' | 'after'): void {
  const original: Transfer = ledger().transfer.bind(h.ledger);
  ledger().transfer = async (command, ...rest) => {
    if (!which(command)) return original(command, ...rest);
    if (when === 'after') await original(command, ...rest);
    throw new MilletError('LEDGER_UNAVAILABLE', 'injected: the ledger did not answer');
  };
  restore = () => {
    ledger().transfer = original;
  };
}
const payments = (c: TransferCommand) => c.metadata?.paymentId !== undefined;
const refunds = (c: TransferCommand) => c.metadata?.refundId !== undefined;

interface Shop {
  id: string;
  key: string;
}

async function merchant(name: string): Promise<Shop> {
  const created = await h.post('/v1/operator/merchants', { name, fee_bps: 60 });
  expect(created.statusCode, created.body).toBe(201);
  const id = created.json().id as string;
  const key = await h.post(`/v1/operator/merchants/${id}/api-keys`, {
    name: 'till',
    scopes: ['payments:write', 'payments:read', 'refunds:write'],
  });
  return { id, key: key.json().key as string };
}

async function order(shop: Shop, amount: string): Promise<JsonObject> {
  const res = await h.post(
    '/v1/merchant/payment-orders',
    { merchant_reference: randomUUID(), amount, description: 'goods' },
    { key: shop.key },
  );
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

async function scan(c: Customer, shop: Shop, amount: string) {
  const res = await h.post('/v1/me/payment-devices', { name: 'phone' }, { key: c.token });
  const secret = Buffer.from(res.json().secret as string, 'base64');
  const code = paymentCode(secret, res.json().device_index as number, h.clock.now());
  return h.post('/v1/merchant/payments/scan', { code, amount }, { key: shop.key });
}

const balance = async (c: Customer) => {
  const wallet = await h.wallet.getWallet(c.id);
  return (await h.ledger.getAccount(wallet.ledgerAccountId)).balances.posted.toString();
};
const payable = async (shop: Shop) => (await h.merchants.merchantBalance(shop.id)).posted.toString();
const payment = async (shop: Shop, id: string) =>
  (await h.get(`/v1/merchant/payments/${id}`, shop.key)).json();
const pendingPayments = async (shop: Shop) =>
  (await h.get('/v1/merchant/payments?status=pending', shop.key)).json().items as JsonObject[];

/** Two sweeps at once, as two processes running the job would; together they decide each row once. */
async function sweepTwice(): Promise<number> {
  const [a, b] = await Promise.all([h.merchants.reconcilePending(), h.merchants.reconcilePending()]);
  return a + b;
}

async function closeThrough(date: string): Promise<void> {
  const last = await h.endOfDay.lastClosedDate();
  for (let d = last ? addDays(last, 1) : date; d <= date; d = addDays(d, 1))
    await h.endOfDay.close(d, { fastForward: true });
}

describe('payments left pending by an undecided ledger call', () => {
  it('a payment the ledger posted but whose answer was lost is completed once: settled and refundable', async () => {
    h.clock.set('2025-09-01T10:00:00+08:00');
    const shop = await merchant('lost answer');
    const payer = await newCustomer(h, { funds: 100_000n, accountClass: 'III' });

    ledgerUndecided(payments, 'after');
    const paid = await scan(payer, shop, '5000');
    restore!();
    expect(paid.statusCode, paid.body).toBe(503);
    const [pending] = await pendingPayments(shop);
    expect(pending).toMatchObject({ amount: '5000', status: 'pending' });
    // The money moved; the payment did not follow it.
    expect(await balance(payer)).toBe('95000');
    expect(await payable(shop)).toBe('5000');

    // A payment younger than a minute may still be in its own request: left alone.
    expect(await h.merchants.reconcilePending()).toBe(0);
    h.clock.advance(61_000);
    expect(await sweepTwice()).toBe(1);
    expect(await payment(shop, pending!.id)).toMatchObject({ status: 'succeeded' });
    // The sweep submitted the same entry id: the ledger answered with the entry it had posted.
    expect(await balance(payer)).toBe('95000');
    expect(await payable(shop)).toBe('5000');
    expect(await h.merchants.reconcilePending()).toBe(0);

    const refund = await h.post(
      '/v1/merchant/refunds',
      { payment_id: pending!.id, amount: '1000' },
      { key: shop.key },
    );
    expect(refund.statusCode, refund.body).toBe(201);
    expect(await balance(payer)).toBe('96000');

    h.clock.set('2025-09-02T01:00:00+08:00');
    await closeThrough('2025-09-01');
    const settled = await h.get(`/v1/merchant/settlements?from=2025-09-01&to=2025-09-01`, shop.key);
    expect(settled.json().items).toMatchObject([
      { payments_count: 1, gross: '5000', refunds: '1000', fees: '30' },
    ]);
    await expectLedgerVerifies(h);
  });

  it('a payment the ledger never took is posted when driven on, or failed: its allowance back, its order payable again', async () => {
    h.clock.set('2025-09-03T10:00:00+08:00');
    const shop = await merchant('ledger down');
    // Class I: 1,000.00 over the account's life.
    const payer = await newCustomer(h, { funds: 100_000n, accountClass: 'I' });
    const big = await order(shop, '60000');

    ledgerUndecided(payments, 'before');
    const byOrder = await h.post(
      `/v1/payment-orders/${big.id}/pay`,
      { id: randomUUID(), method: 'balance' },
      { key: payer.token },
    );
    const byCode = await scan(payer, shop, '30000');
    restore!();
    expect([byOrder.statusCode, byCode.statusCode]).toEqual([503, 503]);
    expect((await pendingPayments(shop)).map((p) => p.amount).sort()).toEqual(['30000', '60000']);
    const cancel = await h.post(`/v1/merchant/payment-orders/${big.id}/cancel`, {}, { key: shop.key });
    expect(cancel.json().code).toBe('PAYMENT_ORDER_ALREADY_PAID');

    // Meanwhile the payer spends elsewhere: 500.00 is left, enough for one of the two.
    await h.ledger.transfer({
      id: randomUUID(),
      debitAccountId: (await h.wallet.getWallet(payer.id)).ledgerAccountId,
      creditAccountId: h.wallet.bankClearingAccountId(),
      amount: 50_000n,
    });
    h.clock.advance(61_000);
    expect(await sweepTwice()).toBe(2);
    expect(await pendingPayments(shop)).toEqual([]);
    const list = (await h.get('/v1/merchant/payments', shop.key)).json().items as JsonObject[];
    expect(list.find((p) => p.amount === '30000')).toMatchObject({ status: 'succeeded' });
    expect(list.find((p) => p.amount === '60000')).toMatchObject({
      status: 'failed',
      failure_code: 'INSUFFICIENT_FUNDS',
    });
    expect(await balance(payer)).toBe('20000');
    expect(await payable(shop)).toBe('30000');

    // The failed payment's order is open again: someone else pays it.
    expect((await h.get(`/v1/merchant/payment-orders/${big.id}`, shop.key)).json().status).toBe('open');
    const friend = await newCustomer(h, { funds: 100_000n, accountClass: 'III' });
    const paidByFriend = await h.post(
      `/v1/payment-orders/${big.id}/pay`,
      { method: 'balance' },
      { key: friend.token },
    );
    expect(paidByFriend.statusCode, paidByFriend.body).toBe(201);
    expect(paidByFriend.json().status).toBe('succeeded');

    // Its 600.00 of class-I allowance came back: only the 300.00 that moved counts.
    const next = await order(shop, '20000');
    const again = await h.post(
      `/v1/payment-orders/${next.id}/pay`,
      { method: 'balance' },
      { key: payer.token },
    );
    expect(again.statusCode, again.body).toBe(201);
    expect(await balance(payer)).toBe('0');
    await expectLedgerVerifies(h);
  });

  it('a sweep while the ledger is still down leaves the payment pending, says why, and tries again after a pause', async () => {
    h.clock.set('2025-09-04T10:00:00+08:00');
    const shop = await merchant('still down');
    const payer = await newCustomer(h, { funds: 10_000n, accountClass: 'III' });
    ledgerUndecided(payments, 'before');
    expect((await scan(payer, shop, '2500')).statusCode).toBe(503);
    h.clock.advance(61_000);
    await expect(h.merchants.reconcilePending()).rejects.toMatchObject({ code: 'LEDGER_UNAVAILABLE' });
    restore!();
    expect(await pendingPayments(shop)).toHaveLength(1);
    // Claimed by the failed attempt: not tried again at once (another process may be at it).
    expect(await h.merchants.reconcilePending()).toBe(0);
    h.clock.advance(60_000);
    expect(await h.merchants.reconcilePending()).toBe(1);
    expect(await pendingPayments(shop)).toEqual([]);
    expect(await balance(payer)).toBe('7500');
  });
});

describe('refunds left pending by an undecided ledger call', () => {
  it('are driven on: refunded once, or failed with the amount they reserved refundable again', async () => {
    h.clock.set('2025-09-05T10:00:00+08:00');
    const shop = await merchant('refunds');
    const other = await merchant('refunds, payout held');
    const payer = await newCustomer(h, { funds: 100_000n, accountClass: 'III' });
    const pay = async (m: Shop) => {
      const o = await order(m, '10000');
      const res = await h.post(`/v1/payment-orders/${o.id}/pay`, { method: 'balance' }, { key: payer.token });
      expect(res.statusCode, res.body).toBe(201);
      return res.json().id as string;
    };
    const [first, second, third] = [await pay(shop), await pay(shop), await pay(other)];
    const refund = (m: Shop, paymentId: string, amount: string) =>
      h.post('/v1/merchant/refunds', { payment_id: paymentId, amount }, { key: m.key });

    ledgerUndecided(refunds, 'before');
    expect((await refund(shop, first, '10000')).statusCode).toBe(503);
    restore!();
    ledgerUndecided(refunds, 'after');
    expect((await refund(shop, second, '4000')).statusCode).toBe(503);
    restore!();
    expect(await balance(payer)).toBe('74000');
    // Pending, the refund holds what it reserved, with no money moved.
    const more = await refund(shop, first, '1');
    expect(more.json()).toMatchObject({ code: 'REFUND_EXCEEDS_PAYMENT', refundable: '0' });

    h.clock.advance(61_000);
    expect(await sweepTwice()).toBe(2);
    expect(await balance(payer)).toBe('84000');
    expect(await payable(shop)).toBe('6000');
    expect(await payment(shop, first)).toMatchObject({ refunded: '10000' });
    expect(await payment(shop, second)).toMatchObject({ refunded: '4000' });

    // A refund whose merchant can no longer cover it when it is driven on: the day's close has
    // put the payable on hold for the payout.
    ledgerUndecided(refunds, 'before');
    expect((await refund(other, third, '10000')).statusCode).toBe(503);
    restore!();
    h.clock.set('2025-09-06T00:30:00+08:00');
    await closeThrough('2025-09-05');
    expect(await sweepTwice()).toBe(1);
    const refused = (
      await h.t.db.query<{ status: string; failure_code: string }>(
        'SELECT status, failure_code FROM merchants_refunds WHERE payment_id = $1',
        [third],
      )
    ).rows;
    expect(refused).toEqual([{ status: 'failed', failure_code: 'MERCHANT_BALANCE_INSUFFICIENT' }]);
    expect(await payment(other, third)).toMatchObject({ refunded: '0' });
    expect(await balance(payer)).toBe('84000');
    expect(await h.merchants.reconcilePending()).toBe(0);
    await expectLedgerVerifies(h);
  });
});
