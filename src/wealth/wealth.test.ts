import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { ManualClock, derivedId, isMilletError } from '../core/index.ts';
import { createEndOfDayClose, jobsMigrations, type EndOfDayClose } from '../jobs/index.ts';
import { createLedger, ledgerMigrations, type Ledger } from '../ledger/index.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import { allocateIncome } from './income-allocation.ts';
import { insertIncome } from './fund-income.ts';
import { parseRate } from './rates.ts';
import { createWealth, wealthMigrations, type Wealth } from './wealth.ts';

/**
 * The fund end to end on the module's public API: subscriptions by the cut-off, the close confirming
 * them and distributing income (DESIGN vector 9), fast and normal redemptions, the T+0 cap, the
 * fixed-term lock and roll-over, the ledger's omnibus share accounts against the register.
 */
describe('wealth (close-driven)', () => {
  let t: TestDatabase;
  let ledger: Ledger;
  let wealth: Wealth;
  let close: EndOfDayClose;
  const clock = new ManualClock('2025-06-05T02:00:00Z'); // Thursday 10:00 in Shanghai
  const wallets = new Map<string, string>();
  let fund: string;
  const users = { a: derivedId('test', 'a'), b: derivedId('test', 'b'), c: derivedId('test', 'c') };
  const at = (local: string) => clock.set(new Date(`${local}+08:00`));
  const walletBalance = async (user: string) => (await ledger.getAccount(wallets.get(user)!)).balances.posted;
  const holding = async (user: string) => (await wealth.holdings(user)).find((h) => h.productId === fund)!;
  const closeThrough = async (date: string) => {
    for (;;) {
      const last = await close.lastClosedDate();
      if (last !== null && last >= date) return;
      const next =
        last === null
          ? '2025-06-04'
          : new Date(Date.parse(`${last}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
      const run = await close.close(next, { fastForward: true });
      if (run.status !== 'completed') throw new Error(`close ${next}: ${run.error}`);
    }
  };
  const expectError = async (promise: Promise<unknown>, code: string) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isMilletError(error) ? error.code : error).toBe(code);
    return error as { details: Record<string, unknown>; message: string };
  };

  beforeAll(async () => {
    t = await openTestDatabase([...ledgerMigrations, ...jobsMigrations, ...wealthMigrations]);
    ledger = createLedger({ db: t.db, clock, registry: new Registry() });
    const world = await ledger.openAccount({ currency: 'CNY', code: 'world', bound: { kind: 'unbounded' } });
    for (const user of Object.values(users)) {
      const account = await ledger.openAccount({
        currency: 'CNY',
        code: 'user_wallet',
        bound: { kind: 'no_overdraft' },
      });
      wallets.set(user, account.id);
      await ledger.transfer({
        id: derivedId('test-top-up', user),
        debitAccountId: world.id,
        creditAccountId: account.id,
        amount: 200_000_000n,
      });
    }
    wealth = createWealth({
      db: t.db,
      ledger,
      clock,
      wallets: {
        getWallet: async (userId) => ({ ledgerAccountId: wallets.get(userId)!, currency: 'CNY' }),
      },
    });
    close = createEndOfDayClose({ db: t.db, clock, steps: wealth.closeSteps() });
    fund = (await wealth.createProduct({ kind: 'money_fund', code: 'MMF1', name: 'Millet Money Fund' })).id;
    const rates = ['1.7120', '1.7085', '1.7090', '1.7093', '1.7093', '1.7093', '1.7077'];
    for (let day = 0; day < 40; day++) {
      const date = new Date(Date.parse('2025-06-04T00:00:00Z') + day * 86_400_000).toISOString().slice(0, 10);
      const rate = date === '2025-06-06' ? '1.7120' : rates[day % 7]!;
      if (date !== '2025-07-13') await wealth.publishDailyIncome(fund, date, parseRate(rate));
    }
  });
  afterAll(async () => {
    await ledger?.close();
    await t?.close();
  });

  it('confirms Thursday-morning subscriptions on Friday and pays vector 9 that day', async () => {
    at('2025-06-05T14:59:00');
    const subscribe = (user: string, amount: bigint) =>
      wealth.subscribe({ id: derivedId('sub', `${user}:${amount}`), userId: user, productId: fund, amount });
    const sa = await subscribe(users.a, 2_345_678n);
    await subscribe(users.b, 10_000n);
    await subscribe(users.c, 98_765_432n);
    expect(sa).toMatchObject({ status: 'pending', tradeDate: '2025-06-05', confirmDate: '2025-06-06' });
    expect(await walletBalance(users.a)).toBe(200_000_000n - 2_345_678n);
    expect(await wealth.openSubscriptions(users.a)).toHaveLength(1);
    at('2025-06-06T01:00:00');
    await closeThrough('2025-06-05');
    expect(await wealth.holdings(users.a)).toEqual([]);
    at('2025-06-07T01:00:00');
    await closeThrough('2025-06-06');
    expect((await holding(users.a)).yesterdayIncome).toBe(401n);
    expect((await holding(users.b)).yesterdayIncome).toBe(2n);
    expect((await holding(users.c)).yesterdayIncome).toBe(16_908n);
    expect((await holding(users.a)).shares).toBe(2_345_678n + 401n);
    const day = await t.db.query<{ total: bigint }>(
      `SELECT total FROM wealth_income_days WHERE product_id = $1 AND business_date = '2025-06-06'`,
      [fund],
    );
    expect(day.rows[0]!.total).toBe(17_311n);
    expect(await wealth.incomeHistory(users.b, fund)).toEqual([
      { date: '2025-06-06', shares: 10_000n, income: 2n },
    ]);
    expect(await wealth.openSubscriptions(users.a)).toEqual([]);
  });

  it('keeps the ledger omnibus share account equal to the register and verifies', async () => {
    const accounts = wealth.productAccounts(fund);
    const [totals] = await wealth.registerTotals();
    expect((await ledger.getAccount(accounts.holderShares)).balances.posted).toBe(totals!.shares);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('caps fast redemptions at 10,000.00 per user per day, concurrency-safe, and resets the next day', async () => {
    at('2025-06-07T10:00:00');
    const before = await walletBalance(users.c);
    let n = 0;
    const fast = (shares: bigint) =>
      wealth.redeemFast({ id: derivedId('fast', `${n++}`), userId: users.c, productId: fund, shares });
    await fast(600_000n);
    // Five at once for 3,000.00 each with 4,000.00 left: exactly one fits.
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map(() => fast(300_000n)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    await fast(100_000n);
    const error = await expectError(fast(1n), 'WEALTH_FAST_REDEMPTION_LIMIT_EXCEEDED');
    expect(error.details).toMatchObject({ limit: '10000.00', remaining: '0.00' });
    expect(await walletBalance(users.c)).toBe(before + 1_000_000n);
    at('2025-06-08T00:00:01');
    await fast(1_000_000n);
    await expectError(fast(1n), 'WEALTH_FAST_REDEMPTION_LIMIT_EXCEEDED');
    expect(await walletBalance(users.c)).toBe(before + 2_000_000n);
  });

  it('refuses to redeem more shares than held', async () => {
    await expectError(
      wealth.redeemNormal({
        id: derivedId('too-many', 'b'),
        userId: users.b,
        productId: fund,
        shares: 10_003n,
      }),
      'WEALTH_INSUFFICIENT_SHARES',
    );
  });

  it('pays a normal redemption in the close of the next trading day; the shares earn until then', async () => {
    at('2025-06-09T10:00:00'); // Monday
    await closeThrough('2025-06-08');
    const a0 = await holding(users.a);
    const wallet0 = await walletBalance(users.a);
    const r = await wealth.redeemNormal({
      id: derivedId('normal', 'a'),
      userId: users.a,
      productId: fund,
      shares: 1_000_000n,
    });
    expect(r).toMatchObject({ status: 'pending', confirmDate: '2025-06-10' });
    const a1 = await holding(users.a);
    expect(a1.shares).toBe(a0.shares - 1_000_000n);
    expect(a1.frozenShares).toBe(1_000_000n);
    at('2025-06-10T10:00:00');
    await closeThrough('2025-06-09');
    // Monday's income still on the full holding (frozen shares earn until paid).
    const monday = (await wealth.incomeHistory(users.a, fund, 1))[0]!;
    expect(monday).toMatchObject({ date: '2025-06-09', shares: a0.shares });
    expect(await walletBalance(users.a)).toBe(wallet0);
    at('2025-06-11T10:00:00');
    await closeThrough('2025-06-10');
    expect(await walletBalance(users.a)).toBe(wallet0 + 1_000_000n);
    const tuesday = (await wealth.incomeHistory(users.a, fund, 1))[0]!;
    expect(tuesday).toMatchObject({ date: '2025-06-10', shares: a0.shares - 1_000_000n + monday.income });
    expect((await holding(users.a)).frozenShares).toBe(0n);
    expect((await holding(users.a)).cumulativeIncome).toBeGreaterThan(401n);
  });

  it('gives the 7-day yield series', async () => {
    const series = await wealth.yields(fund, '2025-06-04', '2025-06-11');
    expect(series).toHaveLength(8);
    expect(series[7]).toMatchObject({ date: '2025-06-11', incomePer10k: 17_120n });
    expect(series[5]!.sevenDayYieldMilli).toBeNull(); // 06-09: only six days published before
    // 06-11…06-17 are the DESIGN example's seven days.
    const [example] = await wealth.yields(fund, '2025-06-17', '2025-06-17');
    expect(example!.sevenDayYieldMilli).toBe(6437n);
  });

  it('locks a fixed-term product until maturity, then rolls it into the fund with interest', async () => {
    const product = await wealth.createProduct({
      kind: 'fixed_term',
      code: 'FT90',
      name: '90-day fixed',
      termDays: 90,
      expectedYield: parseRate('3.25'),
      rollIntoProductId: fund,
    });
    at('2025-06-11T10:00:00');
    const sub = await wealth.subscribe({
      id: derivedId('ft', 'b'),
      userId: users.b,
      productId: product.id,
      amount: 10_000_000n,
    });
    expect(sub).toMatchObject({ confirmDate: '2025-06-12', maturityDate: '2025-09-10' });
    // The credit score's "savings": fund shares plus the fixed-term money, in one batch query.
    const held = await holding(users.b);
    const nobody = derivedId('test', 'nobody');
    const values = await wealth.holdingsValues([users.b, nobody]);
    expect(values.get(users.b)).toBe(held.shares + held.frozenShares + 10_000_000n);
    expect(values.has(nobody)).toBe(false);
    const error = await expectError(
      wealth.redeemFast({
        id: derivedId('ft-exit', 'b'),
        userId: users.b,
        productId: product.id,
        shares: 1n,
      }),
      'WEALTH_PRODUCT_LOCKED',
    );
    expect(error.message).toMatch(/locked for 90 days/);
    // Move the maturity inside this test's window instead of closing 90 days.
    await t.db.query(`UPDATE wealth_subscriptions SET maturity_date = '2025-06-12' WHERE id = $1`, [sub.id]);
    const b0 = (await holding(users.b)).shares;
    at('2025-06-13T10:00:00');
    await closeThrough('2025-06-12');
    expect((await wealth.getSubscription(sub.id)).status).toBe('matured');
    expect((await wealth.getSubscription(sub.id)).interest).toBe(80_136n);
    const b1 = await holding(users.b);
    const [income12, income11] = await wealth.incomeHistory(users.b, fund, 2);
    expect(income12).toMatchObject({ date: '2025-06-12', shares: b0 + income11!.income + 10_080_136n });
    expect(b1.shares).toBe(b0 + income11!.income + 10_080_136n + income12!.income);
    // Matured: counted once, as fund shares.
    expect((await wealth.holdingsValues([users.b])).get(users.b)).toBe(b1.shares + b1.frozenShares);
    const [totals] = await wealth.registerTotals();
    expect((await ledger.getAccount(wealth.productAccounts(fund).holderShares)).balances.posted).toBe(
      totals!.shares,
    );
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('computes the same allocation in SQL as allocateIncome, ties and negative days included', async () => {
    const other = await wealth.createProduct({ kind: 'money_fund', code: 'SQLCHECK', name: 'SQL check' });
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648);
    const holders = Array.from({ length: 300 }, (_, i) => ({
      id: derivedId('sql-holding', String(i)),
      // Every third holder holds the same amount, so remainders tie and the id decides.
      shares: i % 3 === 0 ? 123_457n : BigInt(random() % 50_000_000),
    }));
    for (const h of holders)
      await t.db.query(
        `INSERT INTO wealth_holdings (id, product_id, user_id, shares, created_at) VALUES ($1, $2, $3, $4, now())`,
        [h.id, other.id, derivedId('sql-user', h.id), h.shares],
      );
    for (const [date, rate] of [
      ['2030-01-01', 17_123n],
      ['2030-01-02', -9_871n],
    ] as const) {
      await t.db.transaction((tx) => insertIncome(tx, other.id, date, rate));
      const rows = await t.db.query<{ holding_id: string; income: bigint }>(
        'SELECT holding_id, income FROM wealth_income WHERE product_id = $1 AND business_date = $2',
        [other.id, date],
      );
      const sql = new Map(rows.rows.map((r) => [r.holding_id, r.income]));
      const expected = allocateIncome(
        holders.filter((h) => h.shares > 0n),
        rate,
      );
      holders
        .filter((h) => h.shares > 0n)
        .forEach((h, i) => expect([h.id, sql.get(h.id)]).toEqual([h.id, expected.incomes[i]]));
    }
    // Out of the way of the closes below (this fund publishes no rates).
    await t.db.query('DELETE FROM wealth_income WHERE product_id = $1', [other.id]);
    await t.db.query('DELETE FROM wealth_holdings WHERE product_id = $1', [other.id]);
  });

  it('fails the close for a day whose income is not published, and resumes once it is', async () => {
    at('2025-07-15T10:00:00');
    await closeThrough('2025-07-12');
    await close.close('2025-07-13', { fastForward: true }).catch(() => undefined);
    const view = await close.getRun('2025-07-13');
    expect(view.status).toBe('failed');
    expect(view.error).toMatch(/not published/);
    await wealth.publishDailyIncome(fund, '2025-07-13', -100n);
    const before = await holding(users.c);
    const resumed = await close.close('2025-07-13', { fastForward: true });
    expect(resumed.status).toBe('completed');
    const after = await holding(users.c);
    expect(after.lastIncomeDate).toBe('2025-07-13');
    expect(after.shares - before.shares).toBeLessThan(0n);
    expect((await ledger.verify()).ok).toBe(true);
  });
});
