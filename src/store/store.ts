import path from 'node:path';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { derivedId, MilletError, type Clock } from '../core/index.ts';
import { loadMigrations, type Database, type Migration } from '../db/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { Blacklist, createRiskGuard, type RiskGuard, type RiskPolicy } from '../risk/index.ts';
import { Catalogue } from './catalogue.ts';
import { attemptCounter, SaleRates, type AttemptMetric } from './live-metrics.ts';
import { OrderWriter } from './order-writer.ts';
import { AttemptRefusals } from './refusals.ts';
import { Orders, type StoreCheckout } from './orders.ts';
import { Sales, saleRulesOf, type CreateSaleCommand } from './sales.ts';
import type { AttemptResult, SaleCounters, StockEngine } from './stock-engine.ts';
import {
  RESERVATION_MS,
  type Order,
  type OrderStatus,
  type PageOf,
  type Product,
  type ReturnStatus,
  type Sale,
  type Sku,
} from './types.ts';

export const storeMigrations: Migration[] = loadMigrations(
  'store',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);

/** The store's merchant account: one merchant, created at start, that every order pays. */
export const STORE_MERCHANT_ID = derivedId('store', 'merchant');
/** Pre-sale deposits are held towards this account (credit-only: forfeited deposits are revenue). */
export const STORE_DEPOSITS_ACCOUNT_ID = derivedId('store', 'account:deposits:CNY');

export interface StoreMerchants extends StoreCheckout {
  createMerchant(command: { id: string; name: string; feeBps: number }): Promise<{ id: string }>;
}

export interface StoreUsers {
  getUser(id: string): Promise<{ createdAt: Date }>;
}

export interface StoreOptions {
  db: Database;
  clock: Clock;
  engine: StockEngine;
  merchants: StoreMerchants;
  users: StoreUsers;
  /** Pre-sale deposits are ledger holds on the buyer's wallet. */
  ledger: Pick<Ledger, 'openAccount' | 'placeHold' | 'postHold' | 'voidHold'>;
  wallets: { getWallet(userId: string): Promise<{ ledgerAccountId: string }> };
  registry?: Registry | undefined;
  logger?: Logger | undefined;
  riskPolicy?: Partial<RiskPolicy> | undefined;
  /** Order writer tuning (tests). */
  writer?: { batchSize?: number; minIdleMs?: number; idleMs?: number } | undefined;
  /** Milliseconds between admission-lobby drains (default 25). */
  admitIntervalMs?: number | undefined;
  /**
   * Milliseconds between checks that the engine still holds every live sale, rebuilding one it lost
   * (default 1,000; 0: no checks, only attempts find a lost sale).
   */
  engineCheckIntervalMs?: number | undefined;
}

export interface AttemptCommand {
  saleId: string;
  userId: string;
  /** The client's Idempotency-Key: the same key is the same attempt. */
  key: string;
  quantity: number;
  deviceId?: string | undefined;
  ip?: string | undefined;
  address?: string | undefined;
  card?: string | undefined;
  fcode?: string | undefined;
}

export type AttemptAnswer =
  | { status: 'accepted'; attemptId: string; quantity: number; payBy: Date }
  | { status: 'queued'; attemptId: string; quantity: number };

export interface LiveSaleMetrics {
  saleId: string;
  attemptsPerSecond: number;
  attempts: number;
  accepted: number;
  unitsAccepted: number;
  /** Units paid for and kept: paid and later, neither cancelled, being cancelled, nor returned. */
  sold: number;
  /** Units returned (the goods back with the store, refunded or being refunded); not in `sold`. */
  returned: number;
  /** Units in live orders (reserved or paid), as the database counts them. */
  reserved: number;
  remaining: number;
  lobby: number;
  pendingHandOff: number;
  rejections: Record<string, number>;
}

export interface DriftReport {
  saleId: string;
  allotment: number;
  engineRemaining: number;
  /** Units the engine has handed out (allotment − remaining). */
  engineTaken: number;
  dbUnitsTaken: number;
  dbLiveUnits: number;
  refusedUnits: number;
  /** Accepted attempts not yet written by the order writer. */
  inFlight: number;
  /** engineTaken − (dbLiveUnits + refusedUnits + inFlight): > 0 undersells, < 0 risks overselling. */
  drift: number;
  status: 'ok' | 'undersell' | 'oversell_risk';
  /** units_taken equals the sum of live orders. */
  dbConsistent: boolean;
  repairedReleases: number;
  /** F-codes given back by a repair: spent on attempts that never won (see `reconcile`). */
  releasedFcodes: number;
}

export interface Store {
  readonly engine: StockEngine;
  readonly risk: RiskGuard;
  readonly blacklist: Blacklist;
  /** Opens the store's merchant, loads live sales into the engine, starts the writer and lobby. */
  start(options?: { writer?: boolean }): Promise<void>;
  close(): Promise<void>;
  /** A new order writer (the running one is `writer`); tests kill and replace them. */
  createWriter(options?: {
    consumer?: string;
    minIdleMs?: number;
    batchSize?: number;
    engine?: StockEngine;
  }): OrderWriter;
  readonly writer: OrderWriter | undefined;
  /**
   * Rebuilds, from the database, every live sale the engine no longer holds (Redis restarted
   * empty); returns how many. Runs every second while the store is started.
   */
  restoreLostSales(): Promise<number>;
  /** Starts a fresh order writer as the store's own (after the last one was stopped or killed). */
  startWriter(): OrderWriter;

  createProduct(command: { id: string; name: string; description?: string }): Promise<Product>;
  getProduct(id: string): Promise<Product>;
  listProducts(query: { after?: string; limit: number }): Promise<PageOf<Product>>;
  createSku(command: {
    id: string;
    productId: string;
    code: string;
    name: string;
    price: bigint;
    stock: bigint;
  }): Promise<Sku>;
  getSku(id: string): Promise<Sku>;
  listSkus(productId: string): Promise<Sku[]>;
  updateSku(id: string, change: { price?: bigint; stockDelta?: bigint }): Promise<Sku>;

  createSale(command: CreateSaleCommand): Promise<Sale>;
  getSale(id: string): Promise<Sale>;
  listSales(query: { after?: string; limit: number }): Promise<PageOf<Sale>>;
  /** Sales on now or still to come (soonest first), each with its SKU and product, for shoppers. */
  currentSales(
    limit: number,
  ): Promise<{ now: Date; items: Array<{ sale: Sale; sku: Sku; product: Product }> }>;
  /** A batch of F-codes; `expiresAt` (optional) ends them before the sale does. */
  generateFcodes(
    saleId: string,
    count: number,
    options?: { expiresAt?: Date | null },
  ): Promise<{ batchId: string; codes: string[]; expiresAt: Date | null }>;
  /** Books a user for a sale (required before attempting). */
  register(saleId: string, userId: string): Promise<void>;
  /** Bulk booking with known account ages (imports, the benchmark). */
  registerMany(
    saleId: string,
    users: ReadonlyArray<{ userId: string; accountCreatedAt: Date }>,
  ): Promise<void>;

  /** The flash-sale attempt: no SQL unless an F-code is spent or the user is new to this process. */
  attempt(command: AttemptCommand): Promise<AttemptAnswer>;
  attemptId(saleId: string, userId: string, key: string): string;
  /** An attempt's state: queued, rejected, accepted (with its order once written). */
  attemptStatus(
    saleId: string,
    userId: string,
    attemptId: string,
  ): Promise<{ result: AttemptResult | { status: 'unknown' }; order: Order | undefined }>;
  admitLobbies(): Promise<number>;

  getOrder(id: string, userId?: string): Promise<Order>;
  listOrders(query: {
    userId?: string;
    saleId?: string;
    status?: OrderStatus;
    returnStatus?: ReturnStatus;
    after?: string;
    limit: number;
  }): Promise<PageOf<Order>>;
  payOrder(command: {
    orderId: string;
    userId: string;
    paymentId: string;
    method: string;
    details?: Record<string, string>;
  }): Promise<Order>;
  cancelOrder(orderId: string, by: { userId?: string; reason?: string }): Promise<Order>;
  /** The buyer asks to return a delivered order within seven days of receipt (returns.ts). */
  requestReturn(orderId: string, userId: string, reason?: string): Promise<Order>;
  /** The returned goods are back: the order is refunded to its original method, once. */
  receiveReturn(orderId: string): Promise<Order>;
  /** Pre-sales: hold the deposit on the buyer's wallet (within the 15-minute reservation). */
  payDeposit(orderId: string, userId: string): Promise<Order>;
  /** Pre-sales past their deadline: unpaid deposits forfeited or refunded per the sale's rule. */
  settleUnpaidDeposits(): Promise<number>;
  /**
   * Cancels and returns whose refund failed, tried again with a backoff (the refunds job), and
   * orders closed on a refund checkout failed (before migration 0008) paid back once.
   */
  finishOwedRefunds(): Promise<number>;
  advanceOrder(orderId: string, to: 'packed' | 'shipped' | 'delivered'): Promise<Order>;
  fulfilmentReport(saleId: string): ReturnType<Orders['fulfilmentReport']>;
  expireReservations(): Promise<number>;
  reconcile(saleId: string, options?: { repair?: boolean }): Promise<DriftReport>;
  liveMetrics(saleId: string): Promise<LiveSaleMetrics>;
  setBlacklisted(userId: string, listed: boolean, reason?: string, by?: string | null): Promise<void>;
}

const DAY_MS = 86_400_000;
/**
 * A spent F-code younger than this may belong to an attempt still on its way to the engine
 * (spent, not yet submitted): reconciliation leaves it alone.
 */
const FCODE_SETTLE_MS = 60_000;

export function createStore(options: StoreOptions): Store {
  const { db, clock, engine, logger } = options;
  const catalogue = new Catalogue(db, clock);
  const sales = new Sales(db, clock);
  const orders = new Orders(
    db,
    clock,
    engine,
    options.merchants,
    () => STORE_MERCHANT_ID,
    {
      walletAccountId: async (userId) => (await options.wallets.getWallet(userId)).ledgerAccountId,
      depositAccountId: () => STORE_DEPOSITS_ACCOUNT_ID,
      placeHold: (c) => options.ledger.placeHold(c),
      postHold: (c) => options.ledger.postHold(c),
      voidHold: (c) => options.ledger.voidHold(c),
    },
    (id) => sales.cached(id),
  );
  const blacklist = new Blacklist(db, clock);
  const risk = createRiskGuard({
    clock,
    registry: options.registry,
    logger: logger?.child({ module: 'risk' }),
    policy: options.riskPolicy,
  });
  const count: AttemptMetric = attemptCounter(options.registry);
  const rates = new SaleRates();
  const refusals = new AttemptRefusals();
  let live: Sale[] = [];
  let writer: OrderWriter | undefined;
  let admitTimer: NodeJS.Timeout | undefined;
  let engineCheckTimer: NodeJS.Timeout | undefined;
  let checking: Promise<number> | undefined;
  let admitting: Promise<number> | undefined;

  const createWriter = (
    o: { consumer?: string; minIdleMs?: number; batchSize?: number; engine?: StockEngine } = {},
  ) =>
    new OrderWriter({
      engine,
      orders,
      sales: () => live,
      logger: logger?.child({ module: 'store.order-writer' }),
      ...options.writer,
      ...o,
    });

  /**
   * Sets a sale up in the engine. An engine that does not hold the sale — a new sale, this process
   * restarted with the in-process engine, a Redis restarted empty — is given it from the database:
   * the stock left and who has won, so winners stay winners and their reservations can still be
   * given back.
   */
  async function configureEngine(sale: Sale): Promise<void> {
    const rules = saleRulesOf(sale);
    if (await engine.holdsSale(sale.id)) await engine.configureSale(rules, { rulesOnly: true });
    else await engine.configureSale(rules, await orders.engineSetup(sale.id));
    // Read afresh: another server process may have changed the list since this one loaded it, and
    // a sale set up in a shared (Redis) engine from a stale copy let its new entries buy.
    await blacklist.load();
    for (const userId of blacklist.userIds()) await engine.setBlacklisted(sale.id, userId, true);
  }

  // With no blacklist change under way (`exclusive`): a user blacklisted while a sale was being set
  // up was pushed to the sales already live, not this one, and the list copied into it was older.
  async function addLive(sale: Sale): Promise<void> {
    await blacklist.exclusive(async () => {
      await configureEngine(sale);
      if (!live.some((s) => s.id === sale.id)) live = [...live, sale];
    });
  }

  // One rebuild per sale at a time, however many attempts find the sale missing at once.
  const rebuilding = new Map<string, Promise<void>>();
  const rebuild = (sale: Sale): Promise<void> => {
    let running = rebuilding.get(sale.id);
    if (!running) {
      logger?.warn(
        { saleId: sale.id, engine: engine.kind },
        'stock engine lost a live sale; rebuilding it from the database',
      );
      running = blacklist.exclusive(() => configureEngine(sale)).finally(() => rebuilding.delete(sale.id));
      rebuilding.set(sale.id, running);
    }
    return running;
  };

  /** Rebuilds every live sale the engine no longer holds; returns how many. */
  const restoreLostSales = async (): Promise<number> => {
    let restored = 0;
    const now = clock.now().getTime();
    for (const sale of live) {
      // As long as `sales.live` keeps a sale: a day past its end (reservations still expire).
      if (now > sale.endsAt.getTime() + DAY_MS) continue;
      if (await engine.holdsSale(sale.id)) continue;
      await rebuild(sale);
      restored += 1;
    }
    return restored;
  };

  /**
   * A refusal, counted. The console's per-sale tally (`rates`) keeps only the store's own reasons
   * (not registered, the risk rules): the engine counts its refusals itself, the lobby's included,
   * across processes; tallied here too, this process's count replaced the engine's in the metrics.
   */
  const refuse = (saleId: string, reason: string, error: MilletError, byEngine = false): never => {
    count('rejected', reason);
    if (!byEngine) rates.reject(saleId, reason);
    throw error;
  };

  const admitLobbies = async (): Promise<number> => {
    let total = 0;
    const now = clock.now().getTime();
    for (const sale of live) {
      if (now < sale.startsAt.getTime() + sale.admissionWindowMs || now > sale.endsAt.getTime()) continue;
      for (
        let r = await engine.admit(sale.id, now, 2_000);
        r.handled > 0;
        r = await engine.admit(sale.id, now, 2_000)
      ) {
        total += r.handled;
        // An F-code attempt the lobby refused gives its code back, as one refused at the door does.
        if (r.refusedEarly.length > 0)
          await sales.releaseFcodes(
            sale.id,
            r.refusedEarly.map((e) => e.attemptId),
          );
      }
    }
    return total;
  };

  /**
   * F-codes whose attempt never won stay spent when the give-back was lost: a crash between the
   * lobby's refusal and `releaseFcodes`, a lobby lost with Redis, an engine that failed after the
   * code was spent. Once the admission window is over, a code spent a while ago on an attempt with
   * no order (nor an accepted attempt refused at writing) that the engine does not hold as
   * accepted or queued is given back.
   */
  const releaseLostFcodes = async (sale: Sale): Promise<number> => {
    const now = clock.now().getTime();
    if (now < sale.startsAt.getTime() + sale.admissionWindowMs) return 0;
    const spent = await sales.fcodeAttempts(sale.id, new Date(now - FCODE_SETTLE_MS));
    const settled = await orders.known(spent.map((a) => a.attemptId));
    const lost: string[] = [];
    for (const a of spent) {
      if (settled.has(a.attemptId)) continue;
      const outcome = await engine.outcome(sale.id, a.userId, a.attemptId);
      if (outcome.status === 'rejected' || outcome.status === 'unknown') lost.push(a.attemptId);
    }
    return sales.releaseFcodes(sale.id, lost);
  };

  const store: Store = {
    engine,
    risk,
    blacklist,
    get writer() {
      return writer;
    },
    createWriter,
    restoreLostSales,
    startWriter() {
      writer = createWriter();
      writer.start();
      return writer;
    },

    async start(o = {}) {
      await options.merchants.createMerchant({ id: STORE_MERCHANT_ID, name: 'Millet Store', feeBps: 0 });
      await options.ledger.openAccount({
        id: STORE_DEPOSITS_ACCOUNT_ID,
        currency: 'CNY',
        code: 'store_deposits',
        bound: { kind: 'credit_only' },
        metadata: { owner: 'store', purpose: 'pre-sale deposits (forfeited deposits are revenue)' },
      });
      await blacklist.load();
      blacklist.onChange(async (userId, listed) => {
        for (const sale of live) await engine.setBlacklisted(sale.id, userId, listed);
      });
      for (const sale of await sales.live(clock.now())) await addLive(sale);
      if (o.writer !== false) store.startWriter();
      admitTimer = setInterval(() => {
        admitting ??= admitLobbies()
          .catch((error: unknown) => {
            logger?.error({ err: error }, 'admission lobby drain failed');
            return 0;
          })
          .finally(() => (admitting = undefined));
      }, options.admitIntervalMs ?? 25);
      admitTimer.unref();
      const checkEvery = options.engineCheckIntervalMs ?? 1_000;
      if (checkEvery > 0) {
        engineCheckTimer = setInterval(() => {
          checking ??= restoreLostSales()
            .catch((error: unknown) => {
              // Redis being away is already every attempt's 503; the check tries again.
              if (!(error instanceof MilletError && error.code === 'STORE_ENGINE_UNAVAILABLE'))
                logger?.error({ err: error }, 'stock engine check failed');
              return 0;
            })
            .finally(() => (checking = undefined));
        }, checkEvery);
        engineCheckTimer.unref();
      }
    },

    async close() {
      if (admitTimer) clearInterval(admitTimer);
      if (engineCheckTimer) clearInterval(engineCheckTimer);
      await admitting;
      await checking;
      await writer?.stop();
      await engine.close();
    },

    createProduct: (c) => catalogue.createProduct(c),
    getProduct: (id) => catalogue.getProduct(id),
    listProducts: (q) => catalogue.listProducts(q),
    createSku: (c) => catalogue.createSku(c),
    getSku: (id) => catalogue.getSku(id),
    listSkus: (id) => catalogue.listSkus(id),
    updateSku: (id, c) => catalogue.updateSku(id, c),

    async createSale(command) {
      await catalogue.getSku(command.skuId);
      return sales.create(command, addLive);
    },
    getSale: (id) => sales.get(id),
    listSales: (q) => sales.list(q),
    async currentSales(limit) {
      const now = clock.now();
      const list = await sales.current(now, limit);
      // A page of sales names a handful of SKUs: read each once.
      const skus = new Map<string, Promise<Sku>>();
      const products = new Map<string, Promise<Product>>();
      const items = await Promise.all(
        list.map(async (sale) => {
          if (!skus.has(sale.skuId)) skus.set(sale.skuId, catalogue.getSku(sale.skuId));
          const sku = await skus.get(sale.skuId)!;
          if (!products.has(sku.productId)) products.set(sku.productId, catalogue.getProduct(sku.productId));
          return { sale, sku, product: await products.get(sku.productId)! };
        }),
      );
      return { now, items };
    },
    generateFcodes: (saleId, n, o) => sales.generateFcodes(saleId, n, o),
    async register(saleId, userId) {
      const user = await options.users.getUser(userId);
      await sales.register(saleId, [{ userId, accountCreatedAt: user.createdAt }]);
    },
    registerMany: (saleId, users) => sales.register(saleId, users),

    attemptId: (saleId, userId, key) => derivedId('store.attempt', `${saleId}\u0000${userId}\u0000${key}`),

    async attempt(command) {
      const sale = sales.cachedNow(command.saleId) ?? (await sales.cached(command.saleId));
      const now = clock.now().getTime();
      rates.hit(sale.id, now);
      const accountCreatedAt = await sales.registration(sale.id, command.userId);
      if (!accountCreatedAt) refuse(sale.id, 'not_registered', refusals.notRegistered());
      const decision = risk.assess({
        saleId: sale.id,
        userId: command.userId,
        deviceId: command.deviceId,
        ip: command.ip,
        address: command.address,
        card: command.card,
        accountCreatedAt,
      });
      if (decision.action !== 'allow')
        refuse(sale.id, `risk_${decision.action}`, refusals.risk(decision.action, decision));
      const attemptId = store.attemptId(sale.id, command.userId, command.key);
      if (command.fcode) await sales.spendFcode(sale.id, command.fcode, command.userId, attemptId);
      const input = {
        saleId: sale.id,
        userId: command.userId,
        attemptId,
        quantity: command.quantity,
        now,
        early: Boolean(command.fcode),
        ticket: randomInt(2 ** 31 - 1),
      };
      let result = await engine.attempt(input);
      // The sale exists (it was read above), so an engine that does not know it has lost it.
      if (result.status === 'rejected' && result.reason === 'unknown_sale') {
        await rebuild(sale);
        result = await engine.attempt(input);
      }
      if (result.status === 'rejected') {
        if (command.fcode) await sales.unspendFcode(sale.id, command.fcode, attemptId);
        return refuse(sale.id, result.reason, refusals.rejected(result.reason), true);
      }
      count(result.status, 'none');
      if (result.status === 'queued') return result;
      return { ...result, payBy: new Date(result.acceptedAt + RESERVATION_MS) };
    },

    async attemptStatus(saleId, userId, attemptId) {
      // An engine knows nothing of a sale it never held: without this, any id answered 200 unknown.
      // The engine is asked by the stored id (lower case), as every other step of a sale is.
      const sale = await sales.cached(saleId);
      const result = await engine.outcome(sale.id, userId, attemptId.toLowerCase());
      const order = result.status === 'accepted' ? await orders.byAttempt(attemptId) : undefined;
      return { result, order };
    },
    admitLobbies,

    getOrder: (id, userId) => orders.current(id, userId),
    listOrders: (q) => orders.list(q),
    payOrder: (c) => orders.pay(c),
    cancelOrder: (id, by) => orders.cancel(id, by),
    requestReturn: (id, userId, reason) => orders.requestReturn(id, userId, reason),
    receiveReturn: (id) => orders.receiveReturn(id),
    payDeposit: (id, userId) => orders.payDeposit(id, userId),
    settleUnpaidDeposits: () => orders.settleUnpaidDeposits(),
    finishOwedRefunds: () => orders.finishOwedRefunds(),
    advanceOrder: (id, to) => orders.advance(id, to),
    async fulfilmentReport(saleId) {
      await sales.get(saleId); // an unknown (or malformed) sale id is a 404, not an empty report
      return orders.fulfilmentReport(saleId);
    },
    expireReservations: () => orders.expireReservations(),

    async reconcile(requestedId, o = {}) {
      const sale = await sales.get(requestedId);
      // The engine keys a sale by its stored (lower-case) id: the id as sent, in upper case, read an
      // engine that held nothing, a whole allotment reported undersold and no release repaired.
      const saleId = sale.id;
      // An engine without the sale (a sale over for more than a day when this process started, or
      // lost by Redis since the last check) reads as nothing left: every unit reported undersold.
      // It is rebuilt from the database first, as an attempt that finds the sale missing does.
      if (!(await engine.holdsSale(sale.id))) await rebuild(sale);
      let repairedReleases = 0;
      let releasedFcodes = 0;
      if (o.repair) {
        for (const closed of await orders.closedAttempts(saleId))
          if (await engine.release(saleId, closed.userId, closed.attemptId)) repairedReleases += 1;
        releasedFcodes = await releaseLostFcodes(sale);
      }
      // The writer runs meanwhile. The engine's stock and its in-flight attempts are read at one
      // moment, the database after: an attempt written in between is counted once, from the
      // database (it is dropped from the in-flight list). One accepted and written in between would
      // show as drift, so a drifting reading is taken again (a few times) before it is reported.
      const measure = async () => {
        const snap = await engine.snapshot(saleId);
        const t = await orders.saleTotals(saleId);
        const written = await orders.known(snap.inFlight.map((e) => e.attemptId));
        const inFlight = snap.inFlight
          .filter((e) => !written.has(e.attemptId))
          .reduce((n, e) => n + e.quantity, 0);
        const engineTaken = sale.allotment - snap.remaining;
        return {
          snap,
          t,
          inFlight,
          engineTaken,
          drift: engineTaken - (t.liveUnits + t.refusedUnits + inFlight),
        };
      };
      let m = await measure();
      for (let tries = 0; tries < 3 && m.drift !== 0; tries++) m = await measure();
      const { t, drift } = m;
      const c = { remaining: m.snap.remaining, pendingHandOff: m.inFlight };
      const engineTaken = m.engineTaken;
      return {
        saleId,
        allotment: sale.allotment,
        engineRemaining: c.remaining,
        engineTaken,
        dbUnitsTaken: t.unitsTaken,
        dbLiveUnits: t.liveUnits,
        refusedUnits: t.refusedUnits,
        inFlight: c.pendingHandOff,
        drift,
        status: drift === 0 ? 'ok' : drift > 0 ? 'undersell' : 'oversell_risk',
        dbConsistent: t.unitsTaken === t.liveUnits,
        repairedReleases,
        releasedFcodes,
      };
    },

    async liveMetrics(requestedId) {
      const sale = await sales.cached(requestedId);
      const saleId = sale.id; // the engine's key, whatever the case of the id asked for
      const [held, c, t]: [boolean, SaleCounters, Awaited<ReturnType<Orders['saleTotals']>>] =
        await Promise.all([engine.holdsSale(saleId), engine.counters(saleId), orders.saleTotals(saleId)]);
      // An engine without the sale (this process started after it was over, or Redis lost it and
      // the check has not rebuilt it yet) counts nothing left: the stock is the database's, as a
      // rebuild would set it (the engine's attempt counters went with it).
      const remaining = held ? c.remaining : Math.max(0, sale.allotment - t.unitsTaken - t.refusedUnits);
      return {
        saleId,
        attemptsPerSecond: rates.perSecond(saleId, clock.now().getTime()),
        attempts: c.attempts,
        accepted: c.accepted,
        unitsAccepted: c.unitsAccepted,
        sold: t.soldUnits,
        returned: t.returnedUnits,
        reserved: t.liveUnits,
        remaining,
        lobby: c.lobby,
        pendingHandOff: c.pendingHandOff,
        rejections: { ...c.rejected, ...rates.rejections(saleId) },
      };
    },

    async setBlacklisted(userId, listed, reason = 'operator', by = null) {
      if (listed) await blacklist.add(userId, reason, by);
      else await blacklist.remove(userId);
    },
  };
  return store;
}
