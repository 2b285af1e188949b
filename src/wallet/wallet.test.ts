import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, newId, type MilletError } from '../core/index.ts';
import { createLedger, ledgerMigrations, type Ledger } from '../ledger/index.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import {
  BankDeclinedError,
  type BankConnector,
  type BankOutcome,
  type BankSettlement,
  type CardNamespace,
  type CardSettlement,
} from './bank-connector.ts';
import { paymentAllowanceEffect } from './payment-allowance.ts';
import { SandboxBank } from './sandbox-bank.ts';
import type { WalletUser } from './users.ts';
import { createWallet, walletMigrations, type Wallet } from './wallet.ts';
import { platformAccountIds } from './wallet-accounts.ts';
import { rejection } from '../../test/support/rejection.ts';

let t: TestDatabase;
let ledger: Ledger;
let wallet: Wallet;
const bank = new SandboxBank({ latencyMs: 1, settleAfterMs: 60 });
const clock = new ManualClock('2026-03-01T04:00:00Z');
const users = new Map<string, WalletUser>();
const directory = {
  async getUser(id: string) {
    const user = users.get(id);
    if (!user) throw new Error(`no user ${id}`);
    return user;
  },
};

beforeAll(async () => {
  t = await openTestDatabase([...ledgerMigrations, ...walletMigrations]);
  ledger = createLedger({ db: t.db, clock });
  wallet = createWallet({ db: t.db, ledger, clock, users: directory, bank });
  await wallet.start();
});
afterAll(async () => {
  bank.close();
  await ledger.close();
  await t.close();
});

async function settled(id: string) {
  for (let i = 0; i < 200; i++) {
    const operation = await wallet.getBankOperation(id);
    if (operation.status !== 'pending') return operation;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`operation ${id} never settled`);
}

/** A verified user with a wallet holding `balance` fen, topped up through the sandbox bank. */
async function userWith(balance: bigint, accountClass: WalletUser['accountClass'] = 'II') {
  const id = newId();
  users.set(id, { id, kycStatus: accountClass ? 'verified' : 'none', accountClass });
  await wallet.openWallet(id);
  if (balance > 0n) {
    const topUp = await wallet.topUp({ id: newId(), userId: id, amount: balance, cardToken: 'card_ok' });
    expect((await settled(topUp.id)).status).toBe('succeeded');
  }
  return id;
}

describe('top-ups', () => {
  it('credit the wallet only when the bank settles', async () => {
    const user = await userWith(0n);
    const topUp = await wallet.topUp({ id: newId(), userId: user, amount: 50_000n, cardToken: 'card_ok' });
    expect(topUp.status).toBe('pending');
    expect((await wallet.getWallet(user)).balance).toBe(0n);
    expect(await settled(topUp.id)).toMatchObject({ status: 'succeeded', bankReference: expect.any(String) });
    expect((await wallet.getWallet(user)).balance).toBe(50_000n);
  });

  it('a declined card moves nothing and says why', async () => {
    const user = await userWith(0n);
    const id = newId();
    const error = await rejection(
      wallet.topUp({ id, userId: user, amount: 1_000n, cardToken: 'sandbox_decline' }),
    );
    expect(error.code).toBe('BANK_DECLINED');
    expect(await wallet.getBankOperation(id)).toMatchObject({
      status: 'failed',
      failureCode: 'BANK_DECLINED',
    });
    expect((await wallet.getWallet(user)).balance).toBe(0n);
  });

  it('a timed-out request stays pending and completes when the bank settles it', async () => {
    const user = await userWith(0n);
    const topUp = await wallet.topUp({
      id: newId(),
      userId: user,
      amount: 700n,
      cardToken: 'sandbox_timeout',
    });
    expect(topUp.status).toBe('pending');
    expect((await settled(topUp.id)).status).toBe('succeeded');
    expect((await wallet.getWallet(user)).balance).toBe(700n);
  });

  it('a retry with the same id is the same top-up; other details are refused', async () => {
    const user = await userWith(0n);
    const command = { id: newId(), userId: user, amount: 300n, cardToken: 'card_ok' };
    await wallet.topUp(command);
    await wallet.topUp(command);
    await settled(command.id);
    await bank.requestDebit({ reference: command.id, cardToken: 'card_ok', amount: 300n, currency: 'CNY' });
    expect((await wallet.getWallet(user)).balance).toBe(300n);
    expect((await rejection(wallet.topUp({ ...command, amount: 301n }))).code).toBe('IDEMPOTENCY_KEY_REUSED');
  });
});

describe('withdrawals', () => {
  it('hold the amount, then post it when the bank settles', async () => {
    const user = await userWith(10_000n);
    const withdrawal = await wallet.withdraw({
      id: newId(),
      userId: user,
      amount: 4_000n,
      cardToken: 'card_ok',
    });
    expect(withdrawal.status).toBe('pending');
    expect(await wallet.getWallet(user)).toMatchObject({ balance: 10_000n, available: 6_000n });
    expect((await settled(withdrawal.id)).status).toBe('succeeded');
    expect(await wallet.getWallet(user)).toMatchObject({ balance: 6_000n, available: 6_000n });
  });

  it('a failed withdrawal returns the money', async () => {
    const user = await userWith(10_000n);
    const withdrawal = await wallet.withdraw({
      id: newId(),
      userId: user,
      amount: 4_000n,
      cardToken: 'sandbox_fail',
    });
    expect(await settled(withdrawal.id)).toMatchObject({ status: 'failed', failureCode: 'BANK_DECLINED' });
    expect(await wallet.getWallet(user)).toMatchObject({ balance: 10_000n, available: 10_000n });
    const declined = await rejection(
      wallet.withdraw({ id: newId(), userId: user, amount: 1_000n, cardToken: 'sandbox_decline' }),
    );
    expect(declined.code).toBe('BANK_DECLINED');
    expect(await wallet.getWallet(user)).toMatchObject({ balance: 10_000n, available: 10_000n });
  });

  it('need a verified user: refused before any row or hold, a recorded one still found on retry', async () => {
    const unverified = await userWith(0n, null);
    // Money can reach an unverified wallet (a top-up, a friend's transfer); it can't leave for a card.
    const topUp = await wallet.topUp({
      id: newId(),
      userId: unverified,
      amount: 5_000n,
      cardToken: 'card_ok',
    });
    expect((await settled(topUp.id)).status).toBe('succeeded');
    const id = newId();
    const refused = await rejection(
      wallet.withdraw({ id, userId: unverified, amount: 1_000n, cardToken: 'card_ok' }),
    );
    expect(refused.code).toBe('IDENTITY_NOT_VERIFIED');
    expect(await wallet.getWallet(unverified)).toMatchObject({ balance: 5_000n, available: 5_000n });
    expect((await rejection(wallet.getBankOperation(id))).code).toBe('TOP_UP_NOT_FOUND');
    // Verified since, the same id is a new withdrawal, charged as any other.
    users.set(unverified, { id: unverified, kycStatus: 'verified', accountClass: 'II' });
    const later = await wallet.withdraw({ id, userId: unverified, amount: 1_000n, cardToken: 'card_ok' });
    expect((await settled(later.id)).status).toBe('succeeded');
    expect(await wallet.getWallet(unverified)).toMatchObject({ balance: 4_000n, available: 4_000n });
    // A withdrawal recorded while verified is answered as itself, whatever the user's state now.
    users.set(unverified, { id: unverified, kycStatus: 'none', accountClass: null });
    const retry = await wallet.withdraw({ id, userId: unverified, amount: 1_000n, cardToken: 'card_ok' });
    expect(retry).toMatchObject({ id, status: 'succeeded' });
  });

  it('cannot withdraw more than is available', async () => {
    const user = await userWith(1_000n);
    const error = await rejection(
      wallet.withdraw({ id: newId(), userId: user, amount: 1_001n, cardToken: 'card_ok' }),
    );
    expect(error.code).toBe('INSUFFICIENT_FUNDS');
    expect((await wallet.getWallet(user)).available).toBe(1_000n);
  });
});

describe('the bank', () => {
  it('knows a top-up apart from a card payment that shares its id: each is asked for and settled on its own', async () => {
    const user = await userWith(0n);
    const cardSettlements: CardSettlement[] = [];
    wallet.onCardSettlement('payment', async (settlement) => {
      if (settlement.id === paymentId) cardSettlements.push(settlement);
    });
    // Another module's card payment (1 fen), named by an id the paying client chose…
    const paymentId = newId();
    await wallet.debitCard({
      namespace: 'payment',
      id: paymentId,
      cardToken: 'card_ok',
      amount: 1n,
      currency: 'CNY',
    });
    // …and a top-up the same client sends with that id: the bank must not take it for the payment.
    await wallet.topUp({ id: paymentId, userId: user, amount: 5_000_000n, cardToken: 'card_ok' });
    expect((await settled(paymentId)).status).toBe('succeeded');
    await expect.poll(() => cardSettlements.map((s) => s.id)).toEqual([paymentId]);
    expect(await wallet.cardStatus('payment', paymentId)).toBe('succeeded');
    expect((await wallet.getWallet(user)).balance).toBe(5_000_000n);
    // No other module's request may be made in the wallet's namespace, whatever its types say.
    const named = await rejection(
      wallet.debitCard({
        namespace: 'wallet' as CardNamespace,
        id: newId(),
        cardToken: 'card_ok',
        amount: 1n,
        currency: 'CNY',
      }),
    );
    expect(named.code).toBe('VALIDATION_FAILED');
  });

  it('keeps modules apart: a card payment named like a loan disbursement is its own request, and each module sees only its own settlements', async () => {
    const seen: Array<[string, CardSettlement]> = [];
    const ids = new Set<string>();
    for (const namespace of ['payment', 'loan', 'payout'] as const)
      wallet.onCardSettlement(namespace, async (settlement) => {
        if (ids.has(settlement.id)) seen.push([namespace, settlement]);
      });
    // A loan paid out to a card: its id is shown to the borrower, who can name a payment by it.
    const loanId = newId();
    ids.add(loanId);
    await wallet.creditCard({
      namespace: 'loan',
      id: loanId,
      cardToken: 'card_ok',
      amount: 100_000n,
      currency: 'CNY',
    });
    // A payment by a card the bank declines, named by the loan's id: the bank must judge the card,
    // not answer with the disbursement it already took.
    const declined = await wallet
      .debitCard({
        namespace: 'payment',
        id: loanId,
        cardToken: 'sandbox_decline',
        amount: 90_000n,
        currency: 'CNY',
      })
      .catch((error: unknown) => error);
    expect(declined).toBeInstanceOf(BankDeclinedError);
    expect(await wallet.cardStatus('payment', loanId)).toBe('unknown');
    // Another payment sharing a loan's id, on a card that fails: the failure is the payment's only,
    // the disbursement's success the loan's only.
    const otherId = newId();
    ids.add(otherId);
    await wallet.creditCard({
      namespace: 'loan',
      id: otherId,
      cardToken: 'card_ok',
      amount: 1n,
      currency: 'CNY',
    });
    await wallet.debitCard({
      namespace: 'payment',
      id: otherId,
      cardToken: 'sandbox_fail',
      amount: 1n,
      currency: 'CNY',
    });
    await expect
      .poll(() => seen.map(([namespace, s]) => `${namespace}:${s.id}:${s.outcome}`).sort())
      .toEqual([`loan:${loanId}:succeeded`, `loan:${otherId}:succeeded`, `payment:${otherId}:failed`].sort());
    expect(await wallet.cardStatus('loan', otherId)).toBe('succeeded');
    expect(await wallet.cardStatus('payment', otherId)).toBe('failed');
    expect(await wallet.cardStatus('payout', otherId)).toBe('unknown');
  });

  it('settlements twice, late, out of order or at once end where the money went', async () => {
    const { manual, deliver, known, start: startFor } = manualBankWallet();
    const user = await userWith(10_000n);
    const start = (kind: 'topUp' | 'withdraw', amount: bigint) => startFor(user, kind, amount);
    const both = (reference: string) =>
      Promise.allSettled([
        deliver({ reference, outcome: 'failed' }),
        deliver({ reference, outcome: 'succeeded' }),
      ]);

    // A top-up told both at once is credited once, and says so.
    const contested = await start('topUp', 1_000n);
    await both(contested.reference);
    expect((await manual.getBankOperation(contested.id)).status).toBe('succeeded');
    expect((await manual.getWallet(user)).balance).toBe(11_000n);
    // A failure after the success, and the success again, change nothing.
    await deliver({ reference: contested.reference, outcome: 'failed' });
    await deliver({ reference: contested.reference, outcome: 'succeeded' });
    expect((await manual.getBankOperation(contested.id)).status).toBe('succeeded');
    expect((await manual.getWallet(user)).balance).toBe(11_000n);

    // A withdrawal told both at once: its record says what the ledger did with the hold.
    const withdrawal = await start('withdraw', 2_000n);
    await both(withdrawal.reference);
    const ended = await manual.getBankOperation(withdrawal.id);
    expect(ended.status).toBe('succeeded');
    expect(await manual.getWallet(user)).toMatchObject({ balance: 9_000n, available: 9_000n });

    // The bank had no record yet, so reconciliation failed them; then it confirms them after all.
    const lateTopUp = await start('topUp', 500n);
    const lateWithdrawal = await start('withdraw', 3_000n);
    known.delete(lateTopUp.reference);
    known.delete(lateWithdrawal.reference);
    clock.advance(61_000);
    await manual.reconcileBankOperations(60_000);
    expect((await manual.getBankOperation(lateTopUp.id)).status).toBe('failed');
    expect((await manual.getBankOperation(lateWithdrawal.id)).status).toBe('failed');
    expect(await manual.getWallet(user)).toMatchObject({ balance: 9_000n, available: 9_000n });
    await deliver({ reference: lateTopUp.reference, outcome: 'succeeded' });
    await deliver({ reference: lateWithdrawal.reference, outcome: 'succeeded' });
    expect((await manual.getBankOperation(lateTopUp.id)).status).toBe('succeeded');
    expect((await manual.getBankOperation(lateWithdrawal.id)).status).toBe('succeeded');
    expect(await manual.getWallet(user)).toMatchObject({ balance: 6_500n, available: 6_500n });

    // A settlement for nothing of ours is passed on, and moves nothing here.
    await deliver({ reference: `wallet-${newId()}`, outcome: 'succeeded' });
    await deliver({ reference: newId(), outcome: 'succeeded' });
    expect((await manual.getWallet(user)).balance).toBe(6_500n);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('a payout the bank makes after the hold went back and was spent is booked as owed, once', async () => {
    const { manual, deliver, known, start } = manualBankWallet();
    const user = await userWith(3_000n);
    const shortfallAccount = platformAccountIds().withdrawalShortfall;
    const owed = async () => -(await ledger.getAccount(shortfallAccount)).balances.posted;
    const owedBefore = await owed();
    const late = await start(user, 'withdraw', 3_000n);
    known.delete(late.reference);
    clock.advance(61_000);
    await manual.reconcileBankOperations(60_000);
    expect((await manual.getBankOperation(late.id)).status).toBe('failed');
    // The hold is back in the wallet, and the user takes it out again, by a withdrawal that goes through.
    const again = await start(user, 'withdraw', 3_000n);
    await deliver({ reference: again.reference, outcome: 'succeeded' });
    expect((await manual.getWallet(user)).balance).toBe(0n);

    // The bank paid the first one out after all: the money has left, the wallet can't give it back.
    await Promise.all([
      deliver({ reference: late.reference, outcome: 'succeeded' }),
      deliver({ reference: late.reference, outcome: 'succeeded' }),
    ]);
    expect((await manual.getBankOperation(late.id)).status).toBe('succeeded');
    expect(await owed()).toBe(owedBefore + 3_000n);
    // Delivered again after the user has money once more: the amount is not taken a second time.
    const topUp = await start(user, 'topUp', 5_000n);
    await deliver({ reference: topUp.reference, outcome: 'succeeded' });
    await deliver({ reference: late.reference, outcome: 'succeeded' });
    expect((await manual.getWallet(user)).balance).toBe(5_000n);
    expect(await owed()).toBe(owedBefore + 3_000n);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it("a top-up is not found as a withdrawal, and another user's operation is not found as either", async () => {
    const owner = await userWith(5_000n);
    const stranger = await userWith(0n);
    const withdrawal = await wallet.withdraw({
      id: newId(),
      userId: owner,
      amount: 1_000n,
      cardToken: 'card_ok',
    });
    expect(await wallet.getBankOperation(withdrawal.id, owner, 'withdrawal')).toMatchObject({
      kind: 'withdrawal',
    });
    expect((await rejection(wallet.getBankOperation(withdrawal.id, owner, 'top_up'))).code).toBe(
      'TOP_UP_NOT_FOUND',
    );
    expect((await rejection(wallet.getBankOperation(withdrawal.id, stranger, 'top_up'))).code).toBe(
      'TOP_UP_NOT_FOUND',
    );
    await settled(withdrawal.id);
  });
});

describe('transfers between wallets', () => {
  it('move money once, also when retried with the same id', async () => {
    const alice = await userWith(10_000n);
    const bob = await userWith(0n);
    const command = { id: newId(), fromUserId: alice, toUserId: bob, amount: 2_500n, memo: 'dinner' };
    const first = await wallet.transfer(command);
    const again = await wallet.transfer(command);
    expect(first).toMatchObject({ status: 'succeeded', memo: 'dinner' });
    expect(again.status).toBe('succeeded');
    // The same id with another memo, or none, is not a retry of it.
    for (const memo of ['lunch', undefined])
      expect((await rejection(wallet.transfer({ ...command, memo }))).code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect((await wallet.getWallet(alice)).balance).toBe(7_500n);
    expect((await wallet.getWallet(bob)).balance).toBe(2_500n);
  });

  it('the same transfer sent several times at once moves money and charges the limit once', async () => {
    for (let round = 0; round < 4; round++) {
      const alice = await userWith(100_000n, 'I');
      const bob = await userWith(0n);
      const command = { id: newId(), fromUserId: alice, toUserId: bob, amount: 60_000n };
      const answers = await Promise.allSettled(Array.from({ length: 6 }, () => wallet.transfer(command)));
      expect(answers.map((a) => (a.status === 'fulfilled' ? a.value.status : String(a.reason)))).toEqual(
        Array(6).fill('succeeded'),
      );
      expect((await wallet.getWallet(alice)).balance).toBe(40_000n);
      expect((await wallet.getWallet(bob)).balance).toBe(60_000n);
      // Charged once: 400.00 of the 1,000.00 Class I allowance is left.
      await wallet.transfer({ ...command, id: newId(), amount: 40_000n });
      expect((await wallet.getWallet(bob)).balance).toBe(100_000n);
    }
  });

  it('a transfer left pending by a failure before its posting is completed by reconciliation', async () => {
    const lostLedger: Ledger = {
      ...ledger,
      transfer: () => Promise.reject(new Error('connection lost')),
    };
    // Its own bank: a connector has one settlement handler, and the shared one must keep the suite's.
    const flaky = createWallet({
      db: t.db,
      ledger: lostLedger,
      clock,
      users: directory,
      bank: new SandboxBank({ latencyMs: 1 }),
    });
    const alice = await userWith(70_000n, 'I');
    const bob = await userWith(0n);
    const posted = { id: newId(), fromUserId: alice, toUserId: bob, amount: 60_000n };
    const refused = { id: newId(), fromUserId: alice, toUserId: bob, amount: 20_000n };
    await expect(flaky.transfer(posted)).rejects.toThrow('connection lost');
    await expect(flaky.transfer(refused)).rejects.toThrow('connection lost');
    expect((await wallet.getTransfer(posted.id)).status).toBe('pending');
    // Both hold their share of the Class I limit while pending: 200.00 is left.
    const limited = await rejection(wallet.transfer({ ...posted, id: newId(), amount: 20_001n }));
    expect(limited.code).toBe('PAYMENT_LIMIT_EXCEEDED');

    clock.advance(61_000);
    expect(await wallet.reconcileBankOperations(60_000)).toBeGreaterThanOrEqual(2);
    expect(await wallet.getTransfer(posted.id)).toMatchObject({ status: 'succeeded' });
    expect(await wallet.getTransfer(refused.id)).toMatchObject({
      status: 'failed',
      failureCode: 'INSUFFICIENT_FUNDS',
    });
    expect((await wallet.getWallet(alice)).balance).toBe(10_000n);
    expect((await wallet.getWallet(bob)).balance).toBe(60_000n);
    // The refused one gave its share back: 400.00 of the 1,000.00 is left.
    await wallet.transfer({ ...posted, id: newId(), amount: 10_000n });
    expect((await wallet.getWallet(bob)).balance).toBe(70_000n);
  });

  it('need a verified payer, another recipient and enough money', async () => {
    const unverified = await userWith(0n, null);
    const alice = await userWith(100n);
    expect(
      (await rejection(wallet.transfer({ id: newId(), fromUserId: unverified, toUserId: alice, amount: 1n })))
        .code,
    ).toBe('IDENTITY_NOT_VERIFIED');
    expect(
      (await rejection(wallet.transfer({ id: newId(), fromUserId: alice, toUserId: alice, amount: 1n })))
        .code,
    ).toBe('TRANSFER_TO_SELF');
    const id = newId();
    expect(
      (await rejection(wallet.transfer({ id, fromUserId: alice, toUserId: unverified, amount: 101n }))).code,
    ).toBe('INSUFFICIENT_FUNDS');
    expect(await wallet.getTransfer(id)).toMatchObject({
      status: 'failed',
      failureCode: 'INSUFFICIENT_FUNDS',
    });
  });
});

describe('bad input', () => {
  it('gets a clear error, never a database fault', async () => {
    const alice = await userWith(100n);
    expect(
      (await rejection(wallet.transfer({ id: newId(), fromUserId: alice, toUserId: 'bob', amount: 1n })))
        .code,
    ).toBe('VALIDATION_FAILED');
    expect((await rejection(wallet.getTransfer('not-a-uuid'))).code).toBe('TRANSFER_NOT_FOUND');
    expect((await rejection(wallet.getBankOperation('42'))).code).toBe('TOP_UP_NOT_FOUND');
    expect((await rejection(wallet.getWallet(newId()))).code).toBe('WALLET_NOT_FOUND');
    expect(
      (await rejection(wallet.topUp({ id: newId(), userId: alice, amount: 0n, cardToken: 'card_ok' }))).code,
    ).toBe('AMOUNT_INVALID');
  });
});

describe('account-class limits', () => {
  it('Class I: at most 1,000.00 over the account life; a refused payment gives its allowance back', async () => {
    const payer = await userWith(200_000n, 'I');
    const payee = await userWith(0n);
    await wallet.transfer({ id: newId(), fromUserId: payer, toUserId: payee, amount: 60_000n });
    await wallet.transfer({ id: newId(), fromUserId: payer, toUserId: payee, amount: 40_000n });
    const error = await rejection(
      wallet.transfer({ id: newId(), fromUserId: payer, toUserId: payee, amount: 1n }),
    );
    expect(error.code).toBe('PAYMENT_LIMIT_EXCEEDED');
    expect(error.details).toMatchObject({
      accountClass: 'I',
      limit: '100000',
      used: '100000',
      period: 'life',
    });
    clock.set('2027-06-01T00:00:00Z');
    expect(
      (await rejection(wallet.transfer({ id: newId(), fromUserId: payer, toUserId: payee, amount: 1n })))
        .code,
    ).toBe('PAYMENT_LIMIT_EXCEEDED');
    clock.set('2026-03-01T04:00:00Z');
  });

  it('a Class I withdrawal counts at request; a failure gives it back once, a late payout takes it again once', async () => {
    const { manual, deliver, known, start } = manualBankWallet();
    const payer = await userWith(300_000n, 'I');
    const payee = await userWith(0n);
    // Always over the limit, so always refused: the refusal says what the account has used.
    const used = async () =>
      (
        await rejection(
          manual.transfer({ id: newId(), fromUserId: payer, toUserId: payee, amount: 100_001n }),
        )
      ).details?.used;

    const failing = await start(payer, 'withdraw', 60_000n);
    expect(await used()).toBe('60000');
    await Promise.all([
      deliver({ reference: failing.reference, outcome: 'failed' }),
      deliver({ reference: failing.reference, outcome: 'failed' }),
    ]);
    await deliver({ reference: failing.reference, outcome: 'failed' });
    expect((await manual.getBankOperation(failing.id)).status).toBe('failed');
    expect(await used()).toBe('0');

    // Failed here (the bank had no record), then paid out by the bank after all.
    const late = await start(payer, 'withdraw', 40_000n);
    known.delete(late.reference);
    clock.advance(61_000);
    await manual.reconcileBankOperations(60_000);
    expect((await manual.getBankOperation(late.id)).status).toBe('failed');
    expect(await used()).toBe('0');
    await Promise.all([
      deliver({ reference: late.reference, outcome: 'succeeded' }),
      deliver({ reference: late.reference, outcome: 'succeeded' }),
    ]);
    await deliver({ reference: late.reference, outcome: 'failed' });
    expect((await manual.getBankOperation(late.id)).status).toBe('succeeded');
    expect(await used()).toBe('40000');

    const over = await rejection(
      manual.withdraw({ id: newId(), userId: payer, amount: 60_001n, cardToken: 'c' }),
    );
    expect([over.code, over.details?.used]).toEqual(['PAYMENT_LIMIT_EXCEEDED', '40000']);
    expect(await manual.getWallet(payer)).toMatchObject({ balance: 260_000n, available: 260_000n });
    await start(payer, 'withdraw', 60_000n);
    expect(await used()).toBe('100000');
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('Class II: 100,000.00 a year, counted per business year', async () => {
    const payer = await userWith(0n, 'II');
    const payee = await userWith(0n);
    // Fund the payer straight through the ledger: the sandbox card limit is 50,000.00 a top-up.
    const { ledgerAccountId } = await wallet.getWallet(payer);
    const world = await ledger.openAccount({
      currency: 'CNY',
      code: 'test_world',
      bound: { kind: 'unbounded' },
    });
    await ledger.transfer({
      id: newId(),
      debitAccountId: world.id,
      creditAccountId: ledgerAccountId,
      amount: 30_000_000n,
    });
    clock.set('2026-12-31T15:59:00Z'); // 23:59 on 31 December in Shanghai
    await wallet.transfer({ id: newId(), fromUserId: payer, toUserId: payee, amount: 10_000_000n });
    expect(
      (await rejection(wallet.transfer({ id: newId(), fromUserId: payer, toUserId: payee, amount: 1n })))
        .code,
    ).toBe('PAYMENT_LIMIT_EXCEEDED');
    clock.set('2026-12-31T16:00:00Z'); // midnight: 2027 in Shanghai
    expect(
      await wallet.transfer({ id: newId(), fromUserId: payer, toUserId: payee, amount: 10_000_000n }),
    ).toMatchObject({
      status: 'succeeded',
    });
    clock.set('2026-03-01T04:00:00Z');
  });

  it("Class I counts what the account paid in another class: moving down from II does not renew the account's life", async () => {
    const payer = await userWith(0n, 'II');
    const payee = await userWith(0n);
    const world = await ledger.openAccount({
      currency: 'CNY',
      code: 'test_world',
      bound: { kind: 'unbounded' },
    });
    await ledger.transfer({
      id: newId(),
      debitAccountId: world.id,
      creditAccountId: (await wallet.getWallet(payer)).ledgerAccountId,
      amount: 1_000_000n,
    });
    await wallet.transfer({ id: newId(), fromUserId: payer, toUserId: payee, amount: 60_000n });
    users.set(payer, { id: payer, kycStatus: 'verified', accountClass: 'I' });
    await wallet.transfer({ id: newId(), fromUserId: payer, toUserId: payee, amount: 40_000n });
    const error = await rejection(
      wallet.transfer({ id: newId(), fromUserId: payer, toUserId: payee, amount: 1n }),
    );
    expect(error.code).toBe('PAYMENT_LIMIT_EXCEEDED');
    expect(error.details).toMatchObject({ accountClass: 'I', used: '100000', period: 'life' });
    // Far past the limit: nothing is left, and the message does not promise a negative remainder.
    users.set(payer, { id: payer, kycStatus: 'verified', accountClass: 'II' });
    await wallet.transfer({ id: newId(), fromUserId: payer, toUserId: payee, amount: 400_000n });
    users.set(payer, { id: payer, kycStatus: 'verified', accountClass: 'I' });
    const far = await rejection(
      wallet.transfer({ id: newId(), fromUserId: payer, toUserId: payee, amount: 1n }),
    );
    expect(far.details).toMatchObject({ used: '500000' });
    expect(far.message).toContain('0.00 CNY remains');

    // The same in the ledger batch (merchant payments charge through it).
    const batchCharge = (userId: string, amount: bigint) =>
      wallet.getWallet(userId).then(({ ledgerAccountId }) =>
        ledger.transfer(
          { id: newId(), debitAccountId: ledgerAccountId, creditAccountId: world.id, amount },
          {
            effects: [paymentAllowanceEffect({ userId, accountClass: 'I', amount, at: clock.now() }).effect],
          },
        ),
      );
    expect((await rejection(batchCharge(payer, 1n))).code).toBe('PAYMENT_LIMIT_EXCEEDED');
    const fresh = await userWith(0n, 'II');
    await ledger.transfer({
      id: newId(),
      debitAccountId: world.id,
      creditAccountId: (await wallet.getWallet(fresh)).ledgerAccountId,
      amount: 200_000n,
    });
    await wallet.transfer({ id: newId(), fromUserId: fresh, toUserId: payee, amount: 90_000n });
    await expect(batchCharge(fresh, 10_000n)).resolves.toBeTruthy();
    const refused = await rejection(batchCharge(fresh, 1n));
    expect([refused.code, refused.details?.used]).toEqual(['PAYMENT_LIMIT_EXCEEDED', '100000']);
  });

  it('concurrent payments by one user never pass the limit together', async () => {
    const payer = await userWith(200_000n, 'I');
    const payee = await userWith(0n);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () =>
        wallet.transfer({ id: newId(), fromUserId: payer, toUserId: payee, amount: 20_000n }),
      ),
    );
    const succeeded = results.filter((r) => r.status === 'fulfilled');
    expect(succeeded).toHaveLength(5);
    for (const r of results)
      if (r.status === 'rejected') expect((r.reason as MilletError).code).toBe('PAYMENT_LIMIT_EXCEEDED');
    expect((await wallet.getWallet(payee)).balance).toBe(100_000n);
  });

  it("Class II's year counts the year's Class I payments, in the ledger batch too, and Class I payments sent together stay within 1,000.00", async () => {
    const world = await ledger.openAccount({
      currency: 'CNY',
      code: 'test_world',
      bound: { kind: 'unbounded' },
    });
    const payer = await userWith(0n, 'I');
    const payerAccount = (await wallet.getWallet(payer)).ledgerAccountId;
    await ledger.transfer({
      id: newId(),
      debitAccountId: world.id,
      creditAccountId: payerAccount,
      amount: 20_000_000n,
    });
    const batchCharge = (accountClass: 'I' | 'II', amount: bigint) =>
      ledger.transfer(
        { id: newId(), debitAccountId: payerAccount, creditAccountId: world.id, amount },
        {
          effects: [paymentAllowanceEffect({ userId: payer, accountClass, amount, at: clock.now() }).effect],
        },
      );
    const together = await Promise.allSettled(Array.from({ length: 10 }, () => batchCharge('I', 20_000n)));
    expect(together.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    users.set(payer, { id: payer, kycStatus: 'verified', accountClass: 'II' });
    await batchCharge('II', 9_900_000n);
    const refused = await rejection(batchCharge('II', 1n));
    expect([refused.code, refused.details?.used]).toEqual(['PAYMENT_LIMIT_EXCEEDED', '10000000']);
  });
});

describe('reconciliation', () => {
  it('settles operations whose callback never came, and fails those the bank never saw', async () => {
    const outcomes = new Map<string, BankOutcome | 'unknown'>();
    const silentBank: BankConnector = {
      async requestDebit(request) {
        outcomes.set(request.reference, 'succeeded');
        return { bankReference: 'SILENT' };
      },
      async requestCredit(request) {
        outcomes.set(request.reference, 'unknown');
        return { bankReference: 'SILENT' };
      },
      onSettlement(_handler: (s: BankSettlement) => Promise<void>) {},
      async status(reference) {
        return outcomes.get(reference) ?? 'unknown';
      },
    };
    const quiet = createWallet({ db: t.db, ledger, clock, users: directory, bank: silentBank });
    const user = await userWith(5_000n);
    const topUp = await quiet.topUp({ id: newId(), userId: user, amount: 1_000n, cardToken: 'card_ok' });
    const withdrawal = await quiet.withdraw({
      id: newId(),
      userId: user,
      amount: 2_000n,
      cardToken: 'card_ok',
    });
    expect(await quiet.getWallet(user)).toMatchObject({ balance: 5_000n, available: 3_000n });
    expect(await quiet.reconcileBankOperations(60_000)).toBe(0);
    clock.advance(61_000);
    expect(await quiet.reconcileBankOperations(60_000)).toBeGreaterThanOrEqual(2);
    expect((await quiet.getBankOperation(topUp.id)).status).toBe('succeeded');
    expect((await quiet.getBankOperation(withdrawal.id)).status).toBe('failed');
    expect(await quiet.getWallet(user)).toMatchObject({ balance: 6_000n, available: 6_000n });
    expect((await ledger.verify()).ok).toBe(true);
  });
});

describe('batch look-ups', () => {
  it('getWalletBalances gives many wallets at once, holds counted, users without one absent', async () => {
    const rich = await userWith(30_000n);
    const empty = await userWith(0n);
    const noWallet = newId();
    const held = await ledger.placeHold({
      id: newId(),
      debitAccountId: (await wallet.getWallet(rich)).ledgerAccountId,
      creditAccountId: wallet.bankClearingAccountId(),
      amount: 5_000n,
    });
    const found = await wallet.getWalletBalances([rich, empty, noWallet, 'nope', rich]);
    expect([...found.keys()].sort()).toEqual([rich, empty].sort());
    expect(found.get(rich)).toEqual(await wallet.getWallet(rich));
    expect(found.get(rich)).toMatchObject({ balance: 30_000n, available: 25_000n });
    expect(found.get(empty)).toMatchObject({ balance: 0n, available: 0n });
    await ledger.voidHold({ id: newId(), holdId: held.holdId! });
    expect((await wallet.getWalletBalances([rich])).get(rich)!.available).toBe(30_000n);
    expect((await wallet.getWalletBalances([])).size).toBe(0);
  });
});

/**
 * A wallet on a bank the test drives by hand: settlements are delivered when the test says, and the
 * bank knows a reference only while `known` holds it (delete one to make the bank forget it).
 */
function manualBankWallet() {
  let handler: (settlement: BankSettlement) => Promise<void> = async () => {};
  const known = new Map<string, BankOutcome | 'pending'>();
  const references: string[] = [];
  const request = async (bankRequest: { reference: string }) => {
    references.push(bankRequest.reference);
    known.set(bankRequest.reference, 'pending');
    return { bankReference: 'MANUAL' };
  };
  const manualBank: BankConnector = {
    requestDebit: request,
    requestCredit: request,
    onSettlement(h) {
      handler = h;
    },
    async status(reference) {
      return known.get(reference) ?? 'unknown';
    },
  };
  const manual = createWallet({ db: t.db, ledger, clock, users: directory, bank: manualBank });
  const deliver = (settlement: BankSettlement) => handler(settlement);
  const start = async (userId: string, kind: 'topUp' | 'withdraw', amount: bigint) => {
    const operation = await manual[kind]({ id: newId(), userId, amount, cardToken: 'card_ok' });
    return { id: operation.id, reference: references.at(-1)! };
  };
  return { manual, deliver, known, start };
}
