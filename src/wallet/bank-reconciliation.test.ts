import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, newId } from '../core/index.ts';
import { createLedger, ledgerMigrations, type Ledger } from '../ledger/index.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import type { BankConnector, BankOutcome, BankRequest, BankSettlement } from './bank-connector.ts';
import { bankReferenceOf } from './bank-operations.ts';
import type { WalletUser } from './users.ts';
import { createWallet, walletMigrations, type Wallet } from './wallet.ts';

/**
 * A bank the test scripts: what each request does (`onRequest`), what `status` answers per
 * reference, and every status question asked. Settlements are delivered by the test.
 */
class ScriptedBank implements BankConnector {
  readonly answers = new Map<string, BankOutcome | 'pending' | 'unknown'>();
  readonly asked: string[] = [];
  onRequest: (request: BankRequest) => Promise<{ bankReference: string }> = async (request) => {
    this.answers.set(request.reference, 'pending');
    return { bankReference: `B-${request.reference}` };
  };
  statusOf: (reference: string) => Promise<BankOutcome | 'pending' | 'unknown'> = async (reference) =>
    this.answers.get(reference) ?? 'unknown';
  handler: ((settlement: BankSettlement) => Promise<void>) | undefined;

  requestDebit(request: BankRequest) {
    return this.onRequest(request);
  }
  requestCredit(request: BankRequest) {
    return this.onRequest(request);
  }
  onSettlement(handler: (settlement: BankSettlement) => Promise<void>) {
    this.handler = handler;
  }
  status(reference: string) {
    this.asked.push(reference);
    return this.statusOf(reference);
  }
}

interface LogLine {
  level: 'error' | 'warn';
  fields: Record<string, unknown>;
  message: string;
}

let t: TestDatabase;
let ledger: Ledger;
let bank: ScriptedBank;
let wallet: Wallet;
let logs: LogLine[];
const clock = new ManualClock('2026-03-01T04:00:00Z');
const users = new Map<string, WalletUser>();

const logger = {
  error: (fields: object, message: string) => logs.push({ level: 'error', fields: { ...fields }, message }),
  warn: (fields: object, message: string) => logs.push({ level: 'warn', fields: { ...fields }, message }),
} as unknown as NonNullable<Parameters<typeof createWallet>[0]['logger']>;

beforeAll(async () => {
  t = await openTestDatabase([...ledgerMigrations, ...walletMigrations]);
  ledger = createLedger({ db: t.db, clock });
});
afterAll(async () => {
  await ledger.close();
  await t.close();
});
beforeEach(async () => {
  // Each test sees only its own pending operations.
  await t.db.query(`UPDATE wallet_bank_operations SET status = 'failed' WHERE status = 'pending'`);
  bank = new ScriptedBank();
  logs = [];
  wallet = createWallet({
    db: t.db,
    ledger,
    clock,
    users: { getUser: async (id) => users.get(id)! },
    bank,
    logger,
  });
  await wallet.start();
});

async function userWith(balance: bigint): Promise<string> {
  const id = newId();
  users.set(id, { id, kycStatus: 'verified', accountClass: 'II' });
  await wallet.openWallet(id);
  if (balance > 0n) {
    const topUp = await wallet.topUp({ id: newId(), userId: id, amount: balance, cardToken: 'card_ok' });
    await bank.handler!({ reference: bankReferenceOf(topUp.id), outcome: 'succeeded' });
  }
  return id;
}

/** `count` pending top-ups of one user, a millisecond apart, written straight to the table. */
async function pendingTopUps(userId: string, count: number): Promise<string[]> {
  const start = clock.now().getTime();
  const ids = Array.from({ length: count }, () => newId());
  for (let i = 0; i < count; i += 100) {
    const chunk = ids.slice(i, i + 100);
    const values = chunk.map((_, j) => `($${j * 2 + 1}::uuid, $${j * 2 + 2}::timestamptz)`).join(', ');
    await t.db.query(
      `INSERT INTO wallet_bank_operations (id, kind, user_id, amount, currency, card_token, status, created_at, updated_at)
       SELECT v.id, 'top_up', '${userId}', 100, 'CNY', 'card_ok', 'pending', v.at, v.at
         FROM (VALUES ${values}) AS v(id, at)`,
      chunk.flatMap((id, j) => [id, new Date(start + i + j)]),
    );
  }
  clock.advance(count + 61_000);
  return ids;
}

describe('a connector failing with an ordinary error', () => {
  it('leaves a top-up pending (answered, logged with its id), and reconciliation settles it', async () => {
    const user = await userWith(0n);
    // The request reached the bank, then the connection reset before its answer.
    bank.onRequest = async (request) => {
      bank.answers.set(request.reference, 'pending');
      throw new Error('read ECONNRESET');
    };
    const id = newId();
    const topUp = await wallet.topUp({ id, userId: user, amount: 700n, cardToken: 'card_ok' });
    expect(topUp).toMatchObject({ id, status: 'pending', bankReference: null });
    expect(logs).toEqual([
      expect.objectContaining({ level: 'error', fields: expect.objectContaining({ operationId: id }) }),
    ]);
    bank.answers.set(bankReferenceOf(id), 'succeeded');
    clock.advance(61_000);
    expect(await wallet.reconcileBankOperations()).toBe(1);
    expect((await wallet.getBankOperation(id)).status).toBe('succeeded');
    expect((await wallet.getWallet(user)).balance).toBe(700n);
  });

  it('leaves a withdrawal pending with its money held; one the bank never got fails and gives it back', async () => {
    const user = await userWith(5_000n);
    bank.onRequest = async () => {
      // A buggy connector, before anything was sent.
      throw new TypeError("Cannot read properties of undefined (reading 'token')");
    };
    const id = newId();
    const withdrawal = await wallet.withdraw({ id, userId: user, amount: 2_000n, cardToken: 'card_ok' });
    expect(withdrawal.status).toBe('pending');
    expect(await wallet.getWallet(user)).toMatchObject({ balance: 5_000n, available: 3_000n });
    // A retry answers the same operation, still pending.
    expect((await wallet.withdraw({ id, userId: user, amount: 2_000n, cardToken: 'card_ok' })).status).toBe(
      'pending',
    );
    clock.advance(61_000);
    expect(await wallet.reconcileBankOperations()).toBe(1);
    expect(await wallet.getBankOperation(id)).toMatchObject({
      status: 'failed',
      failureCode: 'BANK_DECLINED',
    });
    expect(await wallet.getWallet(user)).toMatchObject({ balance: 5_000n, available: 5_000n });
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('on a card request of another module is logged with its reference and passed on', async () => {
    bank.onRequest = async () => {
      throw new Error('socket hang up');
    };
    const id = newId();
    await expect(
      wallet.debitCard({ namespace: 'payment', id, cardToken: 'card_ok', amount: 100n, currency: 'CNY' }),
    ).rejects.toThrow('socket hang up');
    expect(logs).toEqual([
      expect.objectContaining({
        level: 'error',
        fields: expect.objectContaining({ reference: `payment-${id}` }),
      }),
    ]);
  });
});

describe('reconciliation', () => {
  it('asks about every pending operation, not only the oldest 500', async () => {
    const user = await userWith(0n);
    const ids = await pendingTopUps(user, 520);
    const newest = ids.at(-1)!;
    bank.answers.set(bankReferenceOf(newest), 'succeeded');
    bank.statusOf = async (reference) => bank.answers.get(reference) ?? 'pending';
    expect(await wallet.reconcileBankOperations()).toBe(1);
    expect(new Set(bank.asked).size).toBe(520);
    expect(bank.asked.length).toBe(520);
    expect((await wallet.getBankOperation(newest)).status).toBe('succeeded');
    expect((await wallet.getWallet(user)).balance).toBe(100n);
  });

  it('reports progress a page at a time and resumes after the last page reported', async () => {
    const user = await userWith(0n);
    const ids = await pendingTopUps(user, 450);
    bank.statusOf = async () => 'pending';
    const progress: Array<{ cursor: string; done: number }> = [];
    const stopped = new Error('stopped');
    await expect(
      wallet.reconcileBankOperations(undefined, {
        onProgress: (cursor, { done }) => {
          progress.push({ cursor, done });
          if (progress.length === 2) throw stopped;
        },
      }),
    ).rejects.toBe(stopped);
    expect(progress.map((p) => p.done)).toEqual([200, 400]);
    expect(bank.asked).toEqual(ids.slice(0, 400).map(bankReferenceOf));
    bank.asked.length = 0;
    const resumed: number[] = [];
    await wallet.reconcileBankOperations(undefined, {
      cursor: progress[1]!.cursor,
      onProgress: (_cursor, { done }) => void resumed.push(done),
    });
    expect(bank.asked).toEqual(ids.slice(400).map(bankReferenceOf));
    expect(resumed).toEqual([50]);
  });

  it('one operation the bank cannot be asked about does not stop the rest', async () => {
    const user = await userWith(0n);
    const [first, second] = await pendingTopUps(user, 2);
    bank.statusOf = async (reference) => {
      if (reference === bankReferenceOf(first!)) throw new Error('bank status endpoint 503');
      return 'succeeded';
    };
    expect(await wallet.reconcileBankOperations()).toBe(1);
    expect((await wallet.getBankOperation(first!)).status).toBe('pending');
    expect((await wallet.getBankOperation(second!)).status).toBe('succeeded');
    expect(logs).toEqual([
      expect.objectContaining({ level: 'warn', fields: expect.objectContaining({ operationId: first }) }),
    ]);
  });

  it('flags an operation undecided at the bank for a day for an operator, once, and keeps asking', async () => {
    const user = await userWith(0n);
    const [id] = await pendingTopUps(user, 1);
    bank.statusOf = async () => 'pending';
    await wallet.reconcileBankOperations();
    expect((await wallet.getBankOperation(id!)).attentionAt).toBeNull();
    clock.advance(24 * 60 * 60 * 1000);
    const flaggedAt = clock.now();
    await wallet.reconcileBankOperations();
    clock.advance(60_000);
    await wallet.reconcileBankOperations();
    expect(await wallet.getBankOperation(id!)).toMatchObject({ status: 'pending', attentionAt: flaggedAt });
    expect(logs.filter((l) => l.fields.operationId === id)).toEqual([
      expect.objectContaining({ level: 'warn', message: expect.stringContaining('operator') }),
    ]);
    expect(bank.asked).toHaveLength(3);
    // The bank decides at last: settled as any other.
    bank.statusOf = async () => 'succeeded';
    expect(await wallet.reconcileBankOperations()).toBe(1);
    expect((await wallet.getWallet(user)).balance).toBe(100n);
  });

  it('lists flagged operations for operators until the bank decides them', async () => {
    const user = await userWith(0n);
    const [a, b] = await pendingTopUps(user, 2);
    bank.statusOf = async () => 'pending';
    clock.advance(24 * 60 * 60 * 1000);
    await wallet.reconcileBankOperations();
    // Undecided too, but young: not flagged.
    await pendingTopUps(user, 1);
    const flagged = await wallet.listBankOperations({ attention: true });
    expect(flagged.items.map((o) => o.id).sort()).toEqual([a, b].sort());
    expect(flagged.nextCursor).toBeNull();
    // Decided at last: the flag stays on the row, but there is nothing left to take up.
    bank.statusOf = async (reference) => (reference === bankReferenceOf(a!) ? 'succeeded' : 'pending');
    await wallet.reconcileBankOperations();
    expect((await wallet.getBankOperation(a!)).attentionAt).not.toBeNull();
    expect((await wallet.listBankOperations({ attention: true })).items.map((o) => o.id)).toEqual([b]);
  });
});
