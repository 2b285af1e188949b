import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { businessDate, type Clock } from '../core/index.ts';
import { loadMigrations, type Database, type Migration } from '../db/index.ts';
import { addDays, type CloseStep } from '../jobs/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { closeOrders, holdingId } from './close-orders.ts';
import { publishDailyRate, yieldSeries, type DailyYield } from './daily-rates.ts';
import { distributeFundIncome } from './fund-income.ts';
import {
  holdingsValues,
  incomeHistory,
  listHoldings,
  registerTotals,
  type Holding,
  type IncomeLine,
} from './holdings.ts';
import { addHoliday, listHolidays, removeHoliday, type Holiday } from './holidays.ts';
import {
  createProduct,
  getProduct,
  listProducts,
  productAccounts,
  type CreateProductCommand,
  type Product,
  type ProductAccounts,
} from './products.ts';
import { listRedemptions, redeem, type RedeemCommand, type Redemption } from './redemptions.ts';
import {
  getSubscription,
  openSubscriptions,
  subscribe,
  type SubscribeCommand,
  type Subscription,
} from './subscriptions.ts';
import type { WealthWallets } from './wallets.ts';

export const wealthMigrations: Migration[] = loadMigrations(
  'wealth',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);

export interface WealthOptions {
  db: Database;
  ledger: Ledger;
  clock: Clock;
  wallets: WealthWallets;
}

/** Money-market funds and fixed-term products (DESIGN §2.7). */
export interface Wealth {
  createProduct(command: CreateProductCommand): Promise<Product>;
  getProduct(id: string): Promise<Product>;
  listProducts(): Promise<Product[]>;
  productAccounts(id: string): ProductAccounts;
  addHoliday(holiday: Holiday): Promise<Holiday>;
  removeHoliday(date: string): Promise<void>;
  listHolidays(): Promise<Holiday[]>;
  /** Publishes a natural day's income per 10,000 shares (1/10,000 yuan). */
  publishDailyIncome(productId: string, date: string, ratePer10k: bigint): Promise<DailyYield>;
  yields(productId: string, from: string, to: string): Promise<DailyYield[]>;
  subscribe(command: SubscribeCommand): Promise<Subscription>;
  getSubscription(id: string, userId?: string): Promise<Subscription>;
  openSubscriptions(userId: string): Promise<Subscription[]>;
  redeemFast(command: RedeemCommand): Promise<Redemption>;
  redeemNormal(command: RedeemCommand): Promise<Redemption>;
  listRedemptions(userId: string): Promise<Redemption[]>;
  /** "Yesterday" is the business date before the clock's. */
  holdings(userId: string): Promise<Holding[]>;
  /**
   * Many users' fund and fixed-term value (fen) in one query, for the credit score's "savings":
   * fund shares, unconfirmed subscriptions and fixed-term products until maturity.
   */
  holdingsValues(userIds: readonly string[]): Promise<Map<string, bigint>>;
  incomeHistory(userId: string, productId: string, limit?: number): Promise<IncomeLine[]>;
  /** Register totals per money fund, to compare with the holders' omnibus share accounts. */
  registerTotals(): Promise<Array<{ productId: string; shares: bigint }>>;
  /** `wealth.orders` then `wealth.fund-income`, for the end-of-day close. */
  closeSteps(): CloseStep[];
}

export function createWealth(options: WealthOptions): Wealth {
  const { db, ledger, clock, wallets } = options;
  return {
    createProduct: (command) => createProduct(db, ledger, clock, command),
    getProduct: (id) => getProduct(db, id),
    listProducts: () => listProducts(db),
    productAccounts,
    addHoliday: (holiday) => addHoliday(db, clock, holiday),
    removeHoliday: (date) => removeHoliday(db, date),
    listHolidays: () => listHolidays(db),
    publishDailyIncome: (productId, date, rate) => publishDailyRate(db, clock, productId, date, rate),
    yields: (productId, from, to) => yieldSeries(db, productId, from, to),
    subscribe: (command) => subscribe(db, ledger, clock, wallets, command),
    getSubscription: (id, userId) => getSubscription(db, id, userId),
    openSubscriptions: (userId) => openSubscriptions(db, userId),
    redeemFast: (command) => redeem(db, ledger, clock, wallets, 'fast', command),
    redeemNormal: (command) => redeem(db, ledger, clock, wallets, 'normal', command),
    listRedemptions: (userId) => listRedemptions(db, userId),
    holdings: (userId) => listHoldings(db, userId, addDays(businessDate(clock), -1)),
    holdingsValues: (userIds) => holdingsValues(db, userIds),
    incomeHistory: (userId, productId, limit) => incomeHistory(db, holdingId(productId, userId), limit),
    registerTotals: () => registerTotals(db),
    closeSteps: () => [
      { name: 'wealth.orders', run: (ctx) => closeOrders(db, ledger, wallets, ctx) },
      {
        name: 'wealth.fund-income',
        run: async (ctx) => {
          await distributeFundIncome(db, ledger, ctx);
        },
      },
    ],
  };
}
