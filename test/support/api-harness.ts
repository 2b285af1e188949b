import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Registry } from 'prom-client';
import {
  apiMigrations,
  buildServer,
  createLogger,
  ensureBootstrapKey,
  type IdempotencyOptions,
} from '../../src/api/index.ts';
import { ManualClock } from '../../src/core/index.ts';
import {
  SandboxSms,
  createIdentity,
  identityMigrations,
  type Identity,
  type IdentityOptions,
} from '../../src/identity/index.ts';
import { createLedger, ledgerMigrations, type Ledger } from '../../src/ledger/index.ts';
import { SandboxBank, createWallet, walletMigrations, type Wallet } from '../../src/wallet/index.ts';
import { createMerchants, merchantsMigrations, type Merchants } from '../../src/merchants/index.ts';
import {
  createCreditService,
  creditMigrations,
  noLineHistoryFeatureSource,
  type CreditService,
} from '../../src/credit/index.ts';
import { createWealth, wealthMigrations, type Wealth } from '../../src/wealth/index.ts';
import {
  createPayPoints,
  paypointsMigrations,
  serviceOrderDebts,
  type PayPoints,
} from '../../src/paypoints/index.ts';
import {
  createWebhooks,
  webhooksMigrations,
  type ResolveHost,
  type Webhooks,
} from '../../src/webhooks/index.ts';
import { createEndOfDayClose, jobsMigrations, type EndOfDayClose } from '../../src/jobs/index.ts';
import {
  createPaylater,
  latestScoreSource,
  lineHistories,
  paylaterMigrations,
  type Paylater,
} from '../../src/paylater/index.ts';
import { createLending, lendingMigrations, type Lending } from '../../src/lending/index.ts';
import {
  applicantDirectory,
  createMarketplace,
  marketplaceMigrations,
  ownLoanOffers,
  type Marketplace,
  type MarketplaceOptions,
} from '../../src/marketplace/index.ts';
import { riskMigrations } from '../../src/risk/index.ts';
import {
  InProcessStockEngine,
  createStore,
  storeMigrations,
  type StockEngine,
  type Store,
  type StoreOptions,
} from '../../src/store/index.ts';
import { openTestDatabase, type TestDatabase } from './test-database.ts';

export interface ApiHarness {
  app: FastifyInstance;
  t: TestDatabase;
  ledger: Ledger;
  identity: Identity;
  wallet: Wallet;
  merchants: Merchants;
  credit: CreditService;
  wealth: Wealth;
  paypoints: PayPoints;
  webhooks: Webhooks;
  paylater: Paylater;
  lending: Lending;
  marketplace: Marketplace;
  /** The store, on the engine given (in-process by default), its order writer running. */
  store: Store;
  /** The end-of-day close with the merchants' settlement steps, the pay-later and the lending steps. */
  endOfDay: EndOfDayClose;
  bank: SandboxBank;
  /** Where sign-up codes go; answers carry them too (`sandbox_code`) unless the identity says not. */
  sms: SandboxSms;
  clock: ManualClock;
  registry: Registry;
  /** The bootstrap key: every scope. */
  adminKey: string;
  /** Every log line the server wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  request(options: RequestOptions): Promise<ApiResponse>;
  get(url: string, key?: string): Promise<ApiResponse>;
  /** A POST with a fresh Idempotency-Key unless one is given. */
  post(
    url: string,
    body?: unknown,
    options?: { key?: string | null; idempotencyKey?: string | null },
  ): Promise<ApiResponse>;
  close(): Promise<void>;
}

export interface RequestOptions {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Response JSON as tests read it: loosely typed, since the assertions check the shape. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JsonObject = Record<string, any>;

export type ApiResponse = LightMyRequestResponse & { json<T = JsonObject>(): T };

export async function openApiHarness(
  options: {
    idempotency?: IdempotencyOptions;
    beforeReady?: (app: FastifyInstance) => void;
    identity?: Partial<Omit<IdentityOptions, 'db' | 'clock'>>;
    /** Marketplace overrides (applicants, own offers, timeouts, seed, the callback base URL). */
    marketplace?: Partial<Omit<MarketplaceOptions, 'db' | 'clock' | 'ledger'>>;
    storeEngine?: StockEngine;
    store?: Partial<
      Pick<StoreOptions, 'riskPolicy' | 'writer' | 'admitIntervalMs' | 'engineCheckIntervalMs'>
    >;
    /** The server's trustProxy (MILLET_TRUST_PROXY); default none. */
    trustProxy?: boolean | number | string;
    /** The webhooks' allowLoopback (MILLET_WEBHOOKS_ALLOW_LOOPBACK); default true. */
    webhooksAllowLoopback?: boolean;
    /**
     * Stands in for DNS wherever the app's policy checks a name (webhook deliveries, connections to
     * marketplace partners); default node:dns.
     */
    webhooksResolveHost?: ResolveHost;
  } = {},
): Promise<ApiHarness> {
  const t = await openTestDatabase([
    ...ledgerMigrations,
    ...apiMigrations,
    ...identityMigrations,
    ...walletMigrations,
    ...merchantsMigrations,
    ...creditMigrations,
    ...wealthMigrations,
    ...jobsMigrations,
    ...webhooksMigrations,
    ...paylaterMigrations,
    ...lendingMigrations,
    ...paypointsMigrations,
    ...marketplaceMigrations,
    ...riskMigrations,
    ...storeMigrations,
  ]);
  const clock = new ManualClock('2025-06-01T00:00:00Z');
  const registry = new Registry();
  const ledger = createLedger({ db: t.db, clock, registry });
  const sms = new SandboxSms();
  const identity = createIdentity({
    db: t.db,
    clock,
    encryptionKey: randomBytes(32),
    sandboxCodes: true,
    // Every test customer signs up from one address at one frozen instant; tests of the
    // per-address limit pass their own.
    smsAddressLimit: { maxPerAddress: Number.MAX_SAFE_INTEGER },
    ...options.identity,
    sms: options.identity?.sms ?? sms,
  });
  // Settlement comes well after the request returns, so tests can see the pending state reliably.
  const bank = new SandboxBank({ latencyMs: 1, settleAfterMs: 60 });
  const wallet = createWallet({ db: t.db, ledger, clock, users: identity, bank });
  await wallet.start();
  // Tests deliver to receivers on 127.0.0.1, as the embedded demo may (MILLET_WEBHOOKS_ALLOW_LOOPBACK).
  const webhooks = createWebhooks({
    db: t.db,
    clock,
    encryptionKey: randomBytes(32),
    allowLoopback: options.webhooksAllowLoopback ?? true,
    resolveHost: options.webhooksResolveHost,
  });
  const merchants = createMerchants({
    db: t.db,
    ledger,
    clock,
    wallet,
    users: identity,
    encryptionKey: randomBytes(32),
    webhooks,
  });
  await merchants.start();
  const credit = createCreditService({
    db: t.db,
    clock,
    users: identity,
    wallets: wallet,
    // As in src/app.ts: line history from the pay-later line's statements.
    features: {
      ...noLineHistoryFeatureSource,
      lineHistories: (userIds, asOf) => lineHistories(t.db, userIds, asOf),
    },
    debts: serviceOrderDebts(t.db),
  });
  const paypoints = createPayPoints({
    db: t.db,
    clock,
    ledger,
    wallet,
    users: identity,
    merchants,
    scores: credit,
  });
  const paylater = createPaylater({
    db: t.db,
    ledger,
    clock,
    users: identity,
    scores: latestScoreSource(credit),
    wallets: wallet,
    registerPaymentMethod: (name, handler) => merchants.registerPaymentMethod(name, handler),
  });
  // As in src/app.ts: lending tells the marketplace (created below) when its own loan is drawn.
  const late: { marketplace?: Marketplace } = {};
  const lending = createLending({
    db: t.db,
    ledger,
    clock,
    users: identity,
    scores: credit,
    wallets: wallet,
    onLoanDrawn: (event) => late.marketplace?.ownLoanDrawn(event) ?? Promise.resolve(),
  });
  const endOfDay = createEndOfDayClose({
    db: t.db,
    clock,
    steps: [...merchants.closeSteps(), ...paylater.closeSteps(), ...lending.closeSteps()],
  });
  const wealth = createWealth({ db: t.db, ledger, clock, wallets: wallet });
  const marketplace = createMarketplace({
    db: t.db,
    ledger,
    clock,
    encryptionKey: randomBytes(32),
    webhooks,
    applicants: applicantDirectory({
      getUser: (id) => identity.getUser(id),
      getLatestScore: (id) => credit.getLatestScore(id),
    }),
    publicUrl: 'http://127.0.0.1:1',
    bankClearingAccountId: () => wallet.bankClearingAccountId(),
    own: ownLoanOffers(lending),
    registry,
    ...options.marketplace,
  });
  late.marketplace = marketplace;
  const store = createStore({
    db: t.db,
    clock,
    engine: options.storeEngine ?? new InProcessStockEngine(),
    merchants,
    users: identity,
    ledger,
    wallets: wallet,
    registry,
    writer: { idleMs: 5 },
    ...options.store,
  });
  await store.start();
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const logger = createLogger({ level: 'info', destination });
  const app = buildServer({
    db: t.db,
    ledger,
    identity,
    wallet,
    merchants,
    credit,
    wealth,
    paypoints,
    webhooks,
    paylater,
    lending,
    marketplace,
    store,
    registry,
    logger,
    clock,
    endOfDay,
    idempotency: options.idempotency,
    trustProxy: options.trustProxy,
  });
  options.beforeReady?.(app);
  await app.ready();
  const adminKey = (await ensureBootstrapKey(t.db, clock))!.plaintext;

  const request = async (o: RequestOptions): Promise<ApiResponse> =>
    (await app.inject({
      method: o.method,
      url: o.url,
      headers: o.headers,
      payload: o.body as never,
    })) as ApiResponse;
  return {
    app,
    t,
    ledger,
    identity,
    wallet,
    merchants,
    credit,
    wealth,
    paypoints,
    webhooks,
    paylater,
    lending,
    marketplace,
    store,
    endOfDay,
    bank,
    sms,
    clock,
    registry,
    adminKey,
    logs,
    request,
    get: (url, key = adminKey) =>
      request({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} }),
    post: (url, body, o = {}) => {
      const headers: Record<string, string> = {};
      const key = o.key === undefined ? adminKey : o.key;
      if (key) headers.authorization = `Bearer ${key}`;
      const idempotencyKey = o.idempotencyKey === undefined ? randomUUID() : o.idempotencyKey;
      if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
      return request({ method: 'POST', url, body, headers });
    },
    async close() {
      bank.close();
      await app.close();
      await store.close();
      await marketplace.close();
      await webhooks.close();
      await ledger.close();
      await t.close();
    },
  };
}

/** Opens the accounts most tests need: an unbounded world account and a no-overdraft wallet. */
export async function openWorldAndWallet(h: ApiHarness): Promise<{ world: string; wallet: string }> {
  const world = await h.post('/v1/ledger/accounts', {
    currency: 'CNY',
    code: 'world',
    bound: { kind: 'unbounded' },
  });
  const wallet = await h.post('/v1/ledger/accounts', {
    currency: 'CNY',
    code: 'user_wallet',
    bound: { kind: 'no_overdraft' },
  });
  if (world.statusCode !== 201 || wallet.statusCode !== 201)
    throw new Error(`could not open accounts: ${world.body} ${wallet.body}`);
  return { world: world.json().id as string, wallet: wallet.json().id as string };
}
