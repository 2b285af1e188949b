import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { paymentCode } from '../src/merchants/index.ts';
import type { ApiResponse } from './support/api-harness.ts';
import { checkedApiHarness } from './support/checked-harness.ts';
import { newCustomer, type Customer } from './support/customers.ts';
import { newMerchant } from './support/merchants.ts';

/**
 * One wallet, four doors out: a merchant's order paid from the balance, a merchant scanning the
 * user's payment code, a transfer to a friend and a withdrawal to a bank card. Asked all at once for
 * more than the wallet holds, exactly what fits leaves — in whatever order the group-commit batches
 * take the requests — every refusal is a 422 INSUFFICIENT_FUNDS problem, and each side's money adds
 * up to the fen. The ledger verifies after the test (checkedApiHarness).
 */
const h = checkedApiHarness();

const SPEND = 2_500n;
const PER_DOOR = 4;

async function balanceOf(c: Customer): Promise<{ balance: bigint; available: bigint }> {
  const wallet = (await h().get('/v1/wallet', c.token)).json<{ balance: string; available: string }>();
  return { balance: BigInt(wallet.balance), available: BigInt(wallet.available) };
}

/** Waits for a withdrawal the sandbox bank confirms asynchronously. */
async function settledWithdrawal(id: string, c: Customer): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const status = (await h().get(`/v1/wallet/withdrawals/${id}`, c.token)).json<{ status: string }>().status;
    if (status !== 'pending') return status;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`withdrawal ${id} never settled`);
}

describe('one wallet spent through every door at once', () => {
  it.each([
    ['exactly four spends', 4n * SPEND],
    ['four spends and one fen left over', 4n * SPEND + 1n],
  ])('%s: what fits leaves, the rest is refused, to the fen', async (_, funds) => {
    const payer = await newCustomer(h(), { funds });
    const friend = await newCustomer(h());
    const merchant = await newMerchant(h(), '四门便利店');
    const amount = SPEND.toString();

    const orders = await Promise.all(
      Array.from({ length: PER_DOOR }, async (_, i) => {
        const res = await h().post(
          '/v1/merchant/payment-orders',
          { merchant_reference: `door-${i}-${randomUUID().slice(0, 8)}`, amount, description: 'tea' },
          { key: merchant.key },
        );
        expect(res.statusCode, res.body).toBe(201);
        return res.json<{ id: string }>().id;
      }),
    );
    // One code per registered device: a code is single use.
    const codes = await Promise.all(
      Array.from({ length: PER_DOOR }, async (_, i) => {
        const res = await h().post('/v1/me/payment-devices', { name: `phone ${i}` }, { key: payer.token });
        expect(res.statusCode, res.body).toBe(201);
        const device = res.json<{ secret: string; device_index: number }>();
        return paymentCode(Buffer.from(device.secret, 'base64'), device.device_index, h().clock.now());
      }),
    );

    const byDoor: Array<Array<{ door: string; send: () => Promise<ApiResponse> }>> = [
      orders.map((id) => ({
        door: 'order',
        send: () => h().post(`/v1/payment-orders/${id}/pay`, { method: 'balance' }, { key: payer.token }),
      })),
      codes.map((code) => ({
        door: 'code',
        send: () => h().post('/v1/merchant/payments/scan', { code, amount }, { key: merchant.key }),
      })),
      Array.from({ length: PER_DOOR }, () => ({
        door: 'transfer',
        send: () => h().post('/v1/transfers', { to_user_id: friend.id, amount }, { key: payer.token }),
      })),
      Array.from({ length: PER_DOOR }, () => ({
        door: 'withdrawal',
        send: () =>
          h().post('/v1/wallet/withdrawals', { amount, card_token: 'card_ok' }, { key: payer.token }),
      })),
    ];
    // Issued round robin, so every door's first request is among the first four.
    const doors = Array.from({ length: PER_DOOR }, (_, i) => byDoor.map((d) => d[i]!)).flat();
    const answers = await Promise.all(doors.map((d) => d.send()));

    const accepted = answers.flatMap((res, i) => (res.statusCode === 201 ? [{ ...doors[i]!, res }] : []));
    const refused = answers.filter((res) => res.statusCode !== 201);
    expect(accepted).toHaveLength(4);
    for (const res of refused) {
      expect(res.statusCode, res.body).toBe(422);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json<{ code: string }>().code).toBe('INSUFFICIENT_FUNDS');
    }

    // Withdrawals hold the money at once and post when the bank confirms.
    const withdrawn = accepted.filter((a) => a.door === 'withdrawal');
    for (const w of withdrawn)
      expect(await settledWithdrawal(w.res.json<{ id: string }>().id, payer)).toBe('succeeded');
    for (const a of accepted.filter((x) => x.door === 'order' || x.door === 'code'))
      expect(a.res.json<{ status: string }>().status).toBe('succeeded');

    expect(await balanceOf(payer)).toEqual({ balance: funds - 4n * SPEND, available: funds - 4n * SPEND });
    const transferred = accepted.filter((a) => a.door === 'transfer').length;
    expect((await balanceOf(friend)).balance).toBe(BigInt(transferred) * SPEND);
    const paid = accepted.filter((a) => a.door === 'order' || a.door === 'code').length;
    const merchantView = (await h().get(`/v1/operator/merchants/${merchant.id}`)).json<{ balance: string }>();
    expect(BigInt(merchantView.balance)).toBe(BigInt(paid) * SPEND);
    // An order refused for want of money stays payable.
    const payments = (await h().get('/v1/merchant/payments?limit=50', merchant.key)).json<{
      items: Array<{ status: string; failure_code: string | null }>;
    }>().items;
    expect(payments.filter((p) => p.status === 'succeeded')).toHaveLength(paid);
    for (const p of payments.filter((x) => x.status !== 'succeeded'))
      expect(p.failure_code).toBe('INSUFFICIENT_FUNDS');
  });
});
