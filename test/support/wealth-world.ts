import { Registry } from 'prom-client';
import { expect } from 'vitest';
import { ManualClock, derivedId } from '../../src/core/index.ts';
import type { Database } from '../../src/db/index.ts';
import { createEndOfDayClose, jobsMigrations } from '../../src/jobs/index.ts';
import { createLedger, ledgerMigrations, type Ledger } from '../../src/ledger/index.ts';
import { parseRate } from '../../src/wealth/rates.ts';
import { createWealth, wealthMigrations } from '../../src/wealth/wealth.ts';
import { openTestDatabase } from './test-database.ts';

/**
 * A money fund of its own for one test: two users with 5,000,000.00 each in their wallets, the
 * clock at `start` (Beijing time), the fund's close and checks of its books. `wrapLedger` and
 * `wrapDb` let a test put faults between the fund and its ledger or database.
 */
export async function openWealthWorld(
  start = '2025-06-05T10:00:00',
  wrapLedger: (ledger: Ledger) => Ledger = (l) => l,
  wrapDb: (db: Database) => Database = (db) => db,
) {
  const clock = new ManualClock(new Date(`${start}+08:00`));
  const t = await openTestDatabase([...ledgerMigrations, ...jobsMigrations, ...wealthMigrations]);
  const ledger = createLedger({ db: t.db, clock, registry: new Registry() });
  const bank = await ledger.openAccount({ currency: 'CNY', code: 'world', bound: { kind: 'unbounded' } });
  const wallets = new Map<string, string>();
  const users = ['a', 'b'].map((name) => derivedId('edge-user', name)) as [string, string];
  for (const user of users) {
    const account = await ledger.openAccount({
      currency: 'CNY',
      code: 'user_wallet',
      bound: { kind: 'no_overdraft' },
    });
    wallets.set(user, account.id);
    await ledger.transfer({
      id: derivedId('edge-top-up', user),
      debitAccountId: bank.id,
      creditAccountId: account.id,
      amount: 500_000_000n,
    });
  }
  const wealth = createWealth({
    db: wrapDb(t.db),
    ledger: wrapLedger(ledger),
    clock,
    wallets: { getWallet: async (userId) => ({ ledgerAccountId: wallets.get(userId)!, currency: 'CNY' }) },
  });
  const close = createEndOfDayClose({ db: t.db, clock, steps: wealth.closeSteps() });
  const fund = (await wealth.createProduct({ kind: 'money_fund', code: 'MMF', name: 'Fund' })).id;
  return {
    t,
    ledger,
    wealth,
    fund,
    users,
    at: (local: string) => clock.set(new Date(`${local}+08:00`)),
    wallet: async (user: string) => (await ledger.getAccount(wallets.get(user)!)).balances.posted,
    holding: async (user: string) => (await wealth.holdings(user)).find((h) => h.productId === fund)!,
    closeDay: (date: string) =>
      close.close(date, { fastForward: true }).then(
        (run) => run,
        (e: unknown) => ({ status: 'threw', error: String(e) }),
      ),
    publish: async (rates: Record<string, string>) => {
      for (const [date, rate] of Object.entries(rates))
        await wealth.publishDailyIncome(fund, date, parseRate(rate));
    },
    /** The register equals the omnibus account and the ledger verifies. */
    balanced: async () => {
      const totals = await wealth.registerTotals();
      for (const { productId, shares } of totals)
        expect(
          (await ledger.getAccount(wealth.productAccounts(productId).holderShares)).balances.posted,
        ).toBe(shares);
      expect((await ledger.verify()).ok).toBe(true);
    },
    shutdown: async () => {
      await ledger.close();
      await t.close();
    },
  };
}

export type WealthWorld = Awaited<ReturnType<typeof openWealthWorld>>;

/**
 * User 0 subscribes `amount` on Thursday 2025-06-05 and holds it as confirmed shares: the fund's
 * rates for `rates` (by default 1.7000 per 10,000 from Thursday to Saturday) published first,
 * then Thursday and Friday closed at 01:00 on Saturday, both completed.
 */
export async function holdConfirmedShares(
  s: WealthWorld,
  amount: bigint,
  rates: Record<string, string> = { '2025-06-05': '1.7000', '2025-06-06': '1.7000', '2025-06-07': '1.7000' },
): Promise<void> {
  await s.publish(rates);
  await s.wealth.subscribe({ id: derivedId('sub', 'a'), userId: s.users[0], productId: s.fund, amount });
  s.at('2025-06-07T01:00:00');
  expect((await s.closeDay('2025-06-05')).status).toBe('completed');
  expect((await s.closeDay('2025-06-06')).status).toBe('completed');
}

/**
 * `target` as it is but for `method`, which `replacement` answers (given the original, bound):
 * a fault put between a module and its ledger or database.
 */
export function replacingMethod<T extends object, K extends keyof T>(
  target: T,
  method: K,
  replacement: (original: T[K]) => T[K],
): T {
  return new Proxy(target, {
    get(object, property) {
      const value: unknown = Reflect.get(object, property);
      const bound = typeof value === 'function' ? value.bind(object) : value;
      return property === method ? replacement(bound as T[K]) : bound;
    },
  });
}
