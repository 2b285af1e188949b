import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, newId } from '../core/index.ts';
import { createLedger, ledgerMigrations, type Ledger } from '../ledger/index.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import { createLending, lendingMigrations, type Lending } from './lending.ts';
import type { LendingWallets, LoanDrawnListener } from './ports.ts';

/**
 * Reconciliation of card disbursements asks the bank about every loan still disbursing, however many
 * the bank keeps pending, and one loan it cannot ask about or end does not stop the others.
 */
let t: TestDatabase;
let ledger: Ledger;
let lending: Lending;
let world: string;
const clock = new ManualClock('2024-05-05T04:00:00Z');
const walletAccounts = new Map<string, string>();
/** What the bank answers per loan id (absent: no record), and every loan it was asked about. */
const bankAnswers = new Map<string, 'pending' | 'succeeded' | 'failed'>();
let asked: string[] = [];
let statusFailsFor = new Set<string>();
let drawnListener: LoanDrawnListener = () => Promise.resolve();
let logs: Array<{ level: 'warn' | 'error'; fields: Record<string, unknown>; message: string }> = [];
const logger = {
  warn: (fields: object, message: string) => logs.push({ level: 'warn', fields: { ...fields }, message }),
  error: (fields: object, message: string) => logs.push({ level: 'error', fields: { ...fields }, message }),
} as unknown as NonNullable<Parameters<Lending['reconcileCardDisbursements']>[1]>['logger'];

beforeAll(async () => {
  t = await openTestDatabase([...ledgerMigrations, ...lendingMigrations]);
  ledger = createLedger({ db: t.db, clock, registry: new Registry() });
  world = (await ledger.openAccount({ currency: 'CNY', code: 'world', bound: { kind: 'unbounded' } })).id;
  const wallets: LendingWallets = {
    async getWallet(userId) {
      let accountId = walletAccounts.get(userId);
      if (accountId === undefined) {
        accountId = (
          await ledger.openAccount({ currency: 'CNY', code: 'user_wallet', bound: { kind: 'no_overdraft' } })
        ).id;
        walletAccounts.set(userId, accountId);
      }
      const account = await ledger.getAccount(accountId);
      return { ledgerAccountId: account.id, currency: 'CNY', available: account.balances.available };
    },
    creditCard(request) {
      bankAnswers.set(request.id, 'pending');
      return Promise.resolve({ bankReference: `bank-${request.id}` });
    },
    onCardSettlement: () => {},
    cardStatus(_namespace, loanId) {
      asked.push(loanId);
      if (statusFailsFor.has(loanId)) return Promise.reject(new Error('read ECONNRESET'));
      return Promise.resolve(bankAnswers.get(loanId) ?? 'unknown');
    },
    bankClearingAccountId: () => world,
  };
  lending = createLending({
    db: t.db,
    ledger,
    clock,
    users: { getUser: () => Promise.resolve({ kycStatus: 'verified', accountClass: 'II', isAdult: true }) },
    scores: { getLatestScore: () => Promise.resolve({ score: 900 }) },
    wallets,
    onLoanDrawn: (event) => drawnListener(event),
  });
  await lending.createProduct('cash', {
    name: 'Cash loan',
    scheduleType: 'equal_instalments',
    dayCount: '30/360',
    annualRate: '7',
    terms: [6, 12],
    minAmount: 10_000n,
    maxAmount: 5_000_000n,
    penaltyRate: '10.5',
    chargeOffDays: 90,
  });
});
afterAll(async () => {
  await ledger?.close();
  await t?.close();
});
beforeEach(async () => {
  // Each test sees only its own disbursing loans.
  await t.db.query(`UPDATE lending_loans SET status = 'cancelled' WHERE status = 'disbursing'`);
  asked = [];
  statusFailsFor = new Set();
  drawnListener = () => Promise.resolve();
  logs = [];
  clock.set('2024-05-05T04:00:00Z');
});

/** A loan of a borrower of its own, drawn to a card: disbursing until the bank settles it. */
async function cardLoan(amount = 10_000n): Promise<string> {
  const userId = newId();
  const offer = (await lending.apply(userId, { productCode: 'cash', amount, terms: 6 })).offer!;
  const loan = await lending.acceptOffer(userId, offer.id, { to: 'card', cardToken: 'card_ok' });
  expect(loan.status).toBe('disbursing');
  return loan.id;
}

/**
 * `count` disbursing card loans older than anything drawn after, written straight to the table,
 * three to a millisecond (so pages end inside a run of equal created_at), answered pending.
 */
async function olderDisbursing(count: number): Promise<string[]> {
  const product = await t.db.query<{ id: string }>(`SELECT id FROM lending_products WHERE code = 'cash'`);
  const start = clock.now().getTime() - 3_600_000;
  const ids = Array.from({ length: count }, () => newId());
  for (let i = 0; i < count; i += 100) {
    const chunk = ids.slice(i, i + 100);
    const values = chunk.map((_, j) => `($${j * 2 + 2}::uuid, $${j * 2 + 3}::timestamptz)`).join(', ');
    await t.db.query(
      `INSERT INTO lending_loans (id, user_id, product_id, product_code, principal, terms, apr_e4, drawn_on,
         disburse_to, status, principal_outstanding, created_at)
       SELECT v.id, v.id, $1, 'cash', 10000, 6, 70000, '2024-05-05', 'card', 'disbursing', 10000, v.at
         FROM (VALUES ${values}) AS v(id, at)`,
      [product.rows[0]!.id, ...chunk.flatMap((id, j) => [id, new Date(start + Math.floor((i + j) / 3))])],
    );
  }
  for (const id of ids) bankAnswers.set(id, 'pending');
  return ids;
}

describe('reconciling card disbursements', () => {
  it('asks about every disbursing loan, past the first 500 the bank still calls pending, each once', async () => {
    const older = await olderDisbursing(520);
    const newest = await cardLoan();
    bankAnswers.set(newest, 'succeeded');
    clock.advance(61_000);
    expect(await lending.reconcileCardDisbursements()).toBe(1);
    expect((await lending.getLoan(newest)).status).toBe('active');
    // In pages: every loan asked about once, none twice at a page's edge.
    expect(asked).toHaveLength(521);
    expect(new Set(asked)).toEqual(new Set([...older, newest]));
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('walks pages of any size to the end', async () => {
    const older = await olderDisbursing(7);
    expect(await lending.reconcileCardDisbursements(60_000, { pageSize: 2 })).toBe(0);
    expect(asked).toEqual(older);
  });

  it('skips a loan the bank cannot be asked about (logged) and ends the others', async () => {
    const unreachable = await cardLoan(10_000n);
    const paid = await cardLoan(11_000n);
    const bounced = await cardLoan(12_000n);
    bankAnswers.set(unreachable, 'succeeded');
    bankAnswers.set(paid, 'succeeded');
    bankAnswers.set(bounced, 'failed');
    statusFailsFor.add(unreachable);
    clock.advance(61_000);
    expect(await lending.reconcileCardDisbursements(60_000, { logger })).toBe(2);
    expect((await lending.getLoan(unreachable)).status).toBe('disbursing');
    expect((await lending.getLoan(paid)).status).toBe('active');
    expect((await lending.getLoan(bounced)).status).toBe('cancelled');
    expect(logs).toEqual([
      expect.objectContaining({ level: 'warn', fields: expect.objectContaining({ loanId: unreachable }) }),
    ]);
    // Asked again next run, when the bank answers.
    statusFailsFor.clear();
    expect(await lending.reconcileCardDisbursements()).toBe(1);
    expect((await lending.getLoan(unreachable)).status).toBe('active');
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('ends the others when one cannot be ended, then throws its error', async () => {
    const stuck = await cardLoan(10_000n);
    const paid = await cardLoan(11_000n);
    bankAnswers.set(stuck, 'succeeded');
    bankAnswers.set(paid, 'succeeded');
    // Ending the older loan fails (here its drawn listener, as the marketplace's could).
    const broken = new Error('the marketplace is unavailable');
    drawnListener = (event) => (event.loanId === stuck ? Promise.reject(broken) : Promise.resolve());
    clock.advance(61_000);
    await expect(lending.reconcileCardDisbursements(60_000, { logger })).rejects.toBe(broken);
    expect((await lending.getLoan(paid)).status).toBe('active');
    expect(logs).toEqual([
      expect.objectContaining({ level: 'error', fields: expect.objectContaining({ loanId: stuck }) }),
    ]);
  });
});
