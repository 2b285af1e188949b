import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import {
  apiMigrations,
  buildServer,
  builtWebRoot,
  createLogger,
  deleteExpiredIdempotencyKeys,
  ensureBootstrapKey,
} from './api/index.ts';
import {
  derivedId,
  smsSandboxCodes,
  systemClock,
  webhooksAllowLoopback,
  type Clock,
  type Config,
} from './core/index.ts';
import {
  createCreditService,
  creditMigrations,
  noLineHistoryFeatureSource,
  type CreditService,
} from './credit/index.ts';
import { applyMigrations, openDatabase, type Database, type Migration } from './db/index.ts';
import {
  SandboxSms,
  createIdentity,
  identityMigrations,
  resolvePiiKey,
  type Identity,
} from './identity/index.ts';
import {
  createEndOfDayClose,
  jobsMigrations,
  startJobs,
  type CloseStep,
  type EndOfDayClose,
  type RunningJobs,
} from './jobs/index.ts';
import { createLedger, ledgerMigrations, type Ledger } from './ledger/index.ts';
import { createLending, lendingMigrations, type Lending } from './lending/index.ts';
import {
  applicantDirectory,
  createMarketplace,
  marketplaceMigrations,
  ownLoanOffers,
  type Marketplace,
} from './marketplace/index.ts';
import { createMerchants, merchantsMigrations, type Merchants } from './merchants/index.ts';
import {
  createPayPoints,
  paypointsMigrations,
  serviceOrderDebts,
  type PayPoints,
} from './paypoints/index.ts';
import {
  createPaylater,
  latestScoreSource,
  lineHistories,
  paylaterMigrations,
  type Paylater,
} from './paylater/index.ts';
import { SandboxBank, createWallet, walletMigrations, type Wallet } from './wallet/index.ts';
import { createWebhooks, webhooksMigrations, type Webhooks } from './webhooks/index.ts';
import { createWealth, wealthMigrations, type Wealth } from './wealth/index.ts';
import { riskMigrations } from './risk/index.ts';
import {
  InProcessStockEngine,
  RedisStockEngine,
  createStore,
  storeMigrations,
  type StockEngine,
  type Store,
} from './store/index.ts';

/** Every module's migrations, in dependency order. */
export const allMigrations: readonly Migration[] = [
  ...ledgerMigrations,
  ...apiMigrations,
  ...identityMigrations,
  ...walletMigrations,
  ...merchantsMigrations,
  ...creditMigrations,
  ...jobsMigrations,
  ...webhooksMigrations,
  ...wealthMigrations,
  ...paylaterMigrations,
  ...lendingMigrations,
  ...paypointsMigrations,
  ...marketplaceMigrations,
  ...riskMigrations,
  ...storeMigrations,
];

export const BOOTSTRAP_KEY_FILE = 'bootstrap-operator-key';

/** The built web app (`npm run build:web`); served at / and /console when it exists. */
export const WEB_ROOT = fileURLToPath(new URL('../web/dist', import.meta.url));

export interface App {
  readonly config: Config;
  readonly db: Database;
  readonly ledger: Ledger;
  readonly identity: Identity;
  readonly wallet: Wallet;
  readonly merchants: Merchants;
  /** The credit score service: consent, scores, history, the monthly refresh. */
  readonly credit: CreditService;
  readonly webhooks: Webhooks;
  /** Money-market funds and fixed-term products. */
  readonly wealth: Wealth;
  /** The pay-later line (statement and daily modes, instalments). */
  readonly paylater: Paylater;
  /** Cash loans and the shared lending math. */
  readonly lending: Lending;
  /** Pay Points service orders (deposits waived by the score). */
  readonly paypoints: PayPoints;
  /** The loan marketplace: partners, routing, consents, callbacks, settlement. */
  readonly marketplace: Marketplace;
  /** The store and flash sales (stock engine: Redis with REDIS_URL, else in-process). */
  readonly store: Store;
  /** The end-of-day close, with every module's steps in order. */
  readonly endOfDay: EndOfDayClose;
  readonly server: FastifyInstance;
  readonly registry: Registry;
  readonly logger: Logger;
  /**
   * The admin key created because none existed (first start): the only time its plaintext
   * exists. `savedTo` is the file it was also written to (embedded database only).
   */
  readonly bootstrapKey: { plaintext: string; savedTo: string | undefined } | undefined;
  /** Starts the HTTP server and the jobs; resolves to the address it listens on. */
  listen(): Promise<string>;
  /**
   * Hands back a close in progress, stops accepting requests, stops the jobs, drains the ledger
   * writer, closes the database.
   */
  close(): Promise<void>;
}

export interface AppOverrides {
  clock?: Clock;
  logger?: Logger;
  /** Milliseconds between job rounds. */
  jobsIntervalMs?: number;
}

/** The composition root: the one place that knows every module and wires them together. */
export async function createApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  const clock = overrides.clock ?? systemClock;
  const logger = overrides.logger ?? createLogger({ level: config.logLevel });
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    schema: config.databaseSchema,
  });
  let ledger: Ledger | undefined;
  let bank: SandboxBank | undefined;
  try {
    const applied = await applyMigrations(db, allMigrations);
    if (applied.length > 0) logger.info({ migrations: applied }, 'applied migrations');
    const registry = new Registry();
    ledger = createLedger({ db, clock, registry });
    if (config.demo && (await seedDemo(ledger))) logger.info('seeded demo ledger accounts and transfers');
    const bootstrapKey = await createBootstrapKey(db, clock, config);
    const pii = resolvePiiKey({ envKey: config.piiKey, dataDir: config.dataDir });
    if (config.databaseUrl && pii.source === 'file')
      logger.warn(
        { file: pii.file },
        'MILLET_PII_KEY is not set: personal data is encrypted with a key file; set it',
      );
    // The sandbox SMS gateway until a real one is configured: it records and logs (phone masked,
    // code left out); the code reaches a developer only through the API where
    // MILLET_SMS_SANDBOX_CODES is on (the embedded demo by default).
    const sandboxCodes = smsSandboxCodes(config);
    if (sandboxCodes && config.databaseUrl)
      logger.warn('sign-up codes are answered in the API (MILLET_SMS_SANDBOX_CODES): development only');
    const identity = createIdentity({
      db,
      clock,
      encryptionKey: pii.key,
      sms: new SandboxSms({ logger: logger.child({ module: 'sms' }) }),
      sandboxCodes,
    });
    // The sandbox bank until a real connector is configured: it behaves like one (latency,
    // declines, asynchronous settlement), see src/wallet/sandbox-bank.ts.
    bank = new SandboxBank();
    const wallet = createWallet({
      db,
      ledger,
      clock,
      users: identity,
      bank,
      logger: logger.child({ module: 'wallet' }),
    });
    await wallet.start();
    // Loopback webhook targets only where configured (the embedded demo by default). The policy is
    // this instance's: merchants (notify_url) and the marketplace (partner endpoints) check URLs
    // through it, so two apps in one process keep their own.
    const allowLoopback = webhooksAllowLoopback(config);
    if (allowLoopback && config.databaseUrl)
      logger.warn('webhooks may be sent to this machine (MILLET_WEBHOOKS_ALLOW_LOOPBACK): development only');
    const webhooks = createWebhooks({
      db,
      clock,
      encryptionKey: pii.key,
      logger: logger.child({ module: 'webhooks' }),
      allowLoopback,
    });
    const merchants = createMerchants({
      db,
      ledger,
      clock,
      wallet,
      users: identity,
      encryptionKey: pii.key,
      webhooks,
    });
    await merchants.start();
    const wealth = createWealth({ db, ledger, clock, wallets: wallet });
    // Lending and the marketplace need the score service, and the score reads their loans back:
    // the source is bound late, and only asked when a score is computed.
    const credits: { lending?: Lending; marketplace?: Marketplace } = {};
    const credit = createCredit({
      db,
      clock,
      identity,
      wallet,
      wealth,
      existingCredits: (userIds) => existingCredits(userIds, credits),
    });
    const paylater = createPaylater({
      db,
      ledger,
      clock,
      users: identity,
      scores: latestScoreSource(credit),
      wallets: wallet,
      registerPaymentMethod: (name, handler) => merchants.registerPaymentMethod(name, handler),
    });
    const lending = createLending({
      db,
      ledger,
      clock,
      users: identity,
      scores: credit,
      wallets: wallet,
      // A drawn loan the marketplace posted is its own lender's `disbursed` (bound late, as above).
      onLoanDrawn: (event) => credits.marketplace?.ownLoanDrawn(event) ?? Promise.resolve(),
    });
    const paypoints = createPayPoints({
      db,
      clock,
      ledger,
      wallet,
      users: identity,
      merchants,
      scores: credit,
    });
    const marketplace = createMarketplace({
      db,
      ledger,
      clock,
      encryptionKey: pii.key,
      webhooks,
      applicants: applicantDirectory({
        getUser: (id) => identity.getUser(id),
        getLatestScore: (id) => credit.getLatestScore(id),
      }),
      // The platform's own cash loan competes under the same rules as the partners' offers.
      own: ownLoanOffers(lending),
      publicUrl: process.env.MILLET_PUBLIC_URL ?? `http://127.0.0.1:${config.port}`,
      bankClearingAccountId: () => wallet.bankClearingAccountId(),
      registry,
    });
    Object.assign(credits, { lending, marketplace });
    const store = createStore({
      db,
      clock,
      engine: createStockEngine(config),
      merchants,
      users: identity,
      ledger,
      wallets: wallet,
      registry,
      logger: logger.child({ module: 'store' }),
    });
    await store.start();
    const endOfDay = createEndOfDayClose({
      db,
      clock,
      steps: endOfDaySteps(ledger, wallet, merchants, wealth, credit, paylater, lending),
      // The embedded database is this process's alone: a close left running is a dead one.
      soleRunner: db.engine === 'pglite',
    });
    const server = buildServer({
      ledger,
      db,
      registry,
      logger,
      clock,
      identity,
      wallet,
      webhooks,
      credit,
      merchants,
      wealth,
      paylater,
      lending,
      endOfDay,
      webRoot: builtWebRoot(WEB_ROOT),
      paypoints,
      marketplace,
      store,
      trustProxy: config.trustProxy,
    });
    return assemble({
      config,
      db,
      ledger,
      identity,
      wallet,
      merchants,
      credit,
      webhooks,
      wealth,
      paylater,
      lending,
      paypoints,
      marketplace,
      store,
      endOfDay,
      bank,
      server,
      registry,
      logger,
      bootstrapKey,
      clock,
      jobsIntervalMs: overrides.jobsIntervalMs,
    });
  } catch (error) {
    bank?.close();
    await ledger?.close().catch(() => {});
    await db.close().catch(() => {});
    throw error;
  }
}

function assemble(
  parts: Omit<App, 'listen' | 'close'> & {
    clock: Clock;
    jobsIntervalMs: number | undefined;
    bank: SandboxBank;
  },
): App {
  const { db, ledger, server, logger, clock, config } = parts;
  let jobs: RunningJobs | undefined;
  let closing: Promise<void> | undefined;
  return {
    config,
    db,
    ledger,
    identity: parts.identity,
    wallet: parts.wallet,
    merchants: parts.merchants,
    credit: parts.credit,
    webhooks: parts.webhooks,
    wealth: parts.wealth,
    paylater: parts.paylater,
    lending: parts.lending,
    paypoints: parts.paypoints,
    marketplace: parts.marketplace,
    store: parts.store,
    endOfDay: parts.endOfDay,
    server,
    registry: parts.registry,
    logger,
    bootstrapKey: parts.bootstrapKey,
    async listen() {
      const address = await server.listen({ port: config.port, host: config.host });
      jobs = startJobs({
        ledger,
        logger,
        intervalMs: parts.jobsIntervalMs,
        jobs: [
          { name: 'api.idempotency-cleanup', run: () => deleteExpiredIdempotencyKeys(db, clock.now()) },
          { name: 'identity.login-failures-cleanup', run: () => parts.identity.pruneLoginFailures() },
          {
            name: 'identity.phone-verifications-cleanup',
            run: () => parts.identity.prunePhoneVerifications(),
          },
          { name: 'wallet.bank-reconciliation', run: () => parts.wallet.reconcileBankOperations() },
          {
            name: 'merchants.card-reconciliation',
            run: () =>
              parts.merchants.reconcileCardPayments(undefined, {
                logger: logger.child({ module: 'merchants' }),
              }),
          },
          { name: 'merchants.pending-reconciliation', run: () => parts.merchants.reconcilePending() },
          {
            name: 'lending.card-disbursements',
            run: () =>
              parts.lending.reconcileCardDisbursements(undefined, {
                logger: logger.child({ module: 'lending' }),
              }),
          },
          {
            // Products made before 2026-12-04 disclose a max APR found at the ends of their amount
            // range only; one page per round (each product's search takes up to about a second), so
            // the other jobs are not held up; the pass is checkpointed and resumes after a restart.
            name: 'lending.recompute-max-apr',
            run: async () => {
              const lendingLog = logger.child({ module: 'lending' });
              const result = await parts.lending.recomputeMaxApr({
                pageSize: 4,
                maxPages: 1,
                logger: lendingLog,
                onProgress: (pass) => lendingLog.info({ maxAprRecompute: pass }, 'recomputing max APRs'),
              });
              return result.processed;
            },
          },
          { name: 'webhooks.deliver', run: () => parts.webhooks.deliverDue() },
          { name: 'store.expire-reservations', run: () => parts.store.expireReservations() },
          { name: 'store.settle-unpaid-deposits', run: () => parts.store.settleUnpaidDeposits() },
          { name: 'store.finish-owed-refunds', run: () => parts.store.finishOwedRefunds() },
          {
            name: 'paypoints.finish-abandoned-acceptances',
            run: () => parts.paypoints.finishAbandonedAcceptances(),
          },
        ],
      });
      return address;
    },
    close() {
      closing ??= (async () => {
        // Each step runs even if an earlier one failed: the database must be closed (and the
        // PGlite lock released) whatever happened above it.
        const steps: Array<[string, () => Promise<unknown>]> = [
          // First: the server waits for requests in flight, and one may be running a close. A close
          // stopped here is handed back, so the next one resumes it without waiting out its lease.
          ['end-of-day close', () => parts.endOfDay.shutdown()],
          ['http server', () => server.close()],
          ['jobs', async () => jobs?.stop()],
          ['bank connector', async () => parts.bank.close()],
          ['webhook attempts', () => parts.webhooks.close()],
          ['store (order writer, stock engine)', () => parts.store.close()],
          ['marketplace partner connections', () => parts.marketplace.close()],
          ['ledger writer', () => ledger.close()],
          ['database', () => db.close()],
        ];
        for (const [name, step] of steps) {
          try {
            await step();
          } catch (error) {
            logger.error({ err: error, step: name }, 'error while closing');
          }
        }
      })();
      return closing;
    },
  };
}

/** The flash-sale stock engine: Redis when REDIS_URL is set, otherwise in this process. */
function createStockEngine(config: Config): StockEngine {
  return config.redisUrl ? new RedisStockEngine({ url: config.redisUrl }) : new InProcessStockEngine();
}

/**
 * The score service wired to identity (verified, 18+) and the wallet (balance ↔ checking account).
 * Also used by `millet credit refresh`.
 */
export function createCredit(parts: {
  db: Database;
  clock: Clock;
  identity: Identity;
  wallet: Pick<Wallet, 'getWallet' | 'getWalletBalances'>;
  wealth: Pick<Wealth, 'holdingsValues'>;
  /** Loans outstanding per user, on the platform and through partners (built after the score service). */
  existingCredits?: (userIds: readonly string[]) => Promise<ReadonlyMap<string, number>>;
}): CreditService {
  return createCreditService({
    db: parts.db,
    clock: parts.clock,
    users: parts.identity,
    wallets: parts.wallet,
    // Line history from the pay-later line's statements (src/paylater); fund and fixed-term
    // holdings ↔ "savings"; one query each per refresh batch.
    features: {
      ...noLineHistoryFeatureSource,
      lineHistories: (userIds, asOf) => lineHistories(parts.db, userIds, asOf),
      fundHoldings: (userIds) => parts.wealth.holdingsValues(userIds),
      ...(parts.existingCredits ? { existingCredits: parts.existingCredits } : {}),
    },
    // Unpaid Pay Points service orders lower the score until paid.
    debts: serviceOrderDebts(parts.db),
  });
}

/** Loans outstanding per user: the platform's own plus those disbursed through partners. */
async function existingCredits(
  userIds: readonly string[],
  sources: { lending?: Lending; marketplace?: Marketplace },
): Promise<ReadonlyMap<string, number>> {
  const [own, partners] = await Promise.all([
    sources.lending?.openLoanCounts(userIds) ?? new Map<string, number>(),
    sources.marketplace?.existingCredits(userIds) ?? new Map<string, number>(),
  ]);
  const total = new Map(own);
  for (const [id, n] of partners) total.set(id, (total.get(id) ?? 0) + n);
  return total;
}

async function createBootstrapKey(db: Database, clock: Clock, config: Config): Promise<App['bootstrapKey']> {
  const created = await ensureBootstrapKey(db, clock);
  if (!created) return undefined;
  if (config.databaseUrl) return { plaintext: created.plaintext, savedTo: undefined };
  // With the embedded database the operator is whoever can read the data directory, so the key
  // waits there (owner-only) for a local user who missed the console output.
  const savedTo = path.join(config.dataDir, BOOTSTRAP_KEY_FILE);
  fs.writeFileSync(savedTo, `${created.plaintext}\n`, { mode: 0o600 });
  fs.chmodSync(savedTo, 0o600);
  return { plaintext: created.plaintext, savedTo };
}

/**
 * Demo data for an empty ledger, so a fresh `npm start` has something to show: a world account,
 * a fee account, two wallets, a few transfers and one open hold. Ids are derived from names, so
 * seeding two databases gives the same ids. Returns false (and does nothing) when the ledger
 * already has accounts.
 */
export async function seedDemo(ledger: Ledger): Promise<boolean> {
  if ((await ledger.listAccounts({ limit: 1 })).items.length > 0) return false;
  const id = (name: string) => derivedId('demo', name);
  const account = (
    name: string,
    code: string,
    bound: Parameters<Ledger['openAccount']>[0]['bound'],
    metadata = {},
  ) =>
    ledger.openAccount({
      id: id(`account:${name}`),
      currency: 'CNY',
      code,
      bound,
      metadata: { demo: true, name, ...metadata },
    });
  const world = await account('world', 'world', { kind: 'unbounded' });
  const fees = await account('platform-fees', 'fee_income', { kind: 'credit_only' });
  const alice = await account('alice', 'user_wallet', { kind: 'no_overdraft' });
  const bob = await account('bob', 'user_wallet', { kind: 'no_overdraft' });
  const transfer = (name: string, from: string, to: string, amount: bigint, memo: string) =>
    ledger.transfer({
      id: id(`transfer:${name}`),
      debitAccountId: from,
      creditAccountId: to,
      amount,
      metadata: { memo },
    });
  await transfer('alice-top-up', world.id, alice.id, 100_000n, 'top-up 1,000.00');
  await transfer('bob-top-up', world.id, bob.id, 50_000n, 'top-up 500.00');
  await transfer('alice-pays-bob', alice.id, bob.id, 12_000n, 'dinner 120.00');
  await ledger.postEntry({
    id: id('entry:alice-buys-from-bob'),
    legs: [
      { accountId: alice.id, side: 'debit', amount: 20_000n },
      { accountId: bob.id, side: 'credit', amount: 19_880n },
      { accountId: fees.id, side: 'credit', amount: 120n },
    ],
    metadata: { memo: 'order 200.00 with a 0.6% platform fee' },
  });
  await ledger.placeHold({
    id: id('hold:bob-pre-authorisation'),
    debitAccountId: bob.id,
    creditAccountId: world.id,
    amount: 5_000n,
    timeoutSeconds: 7 * 86_400,
    metadata: { memo: 'pre-authorisation 50.00, expires in a week' },
  });
  return true;
}

/**
 * The end-of-day close's steps, in the order they must run. Modules add theirs here as they land
 * (accrual, statements and due processing with lending; settlement with merchants; fund income;
 * the monthly score refresh).
 */
function endOfDaySteps(
  ledger: Ledger,
  wallet: Wallet,
  merchants: Merchants,
  wealth: Wealth,
  credit: CreditService,
  paylater: Paylater,
  lending: Lending,
): CloseStep[] {
  return [
    {
      name: 'ledger.expire-holds',
      async run(ctx) {
        let expired = 0;
        for (let batch = await ledger.expireHolds(); batch > 0; batch = await ledger.expireHolds())
          expired += batch;
        await ctx.checkpoint(null, { done: expired });
      },
    },
    {
      name: 'wallet.bank-reconciliation',
      async run(ctx) {
        // Pending operations are walked a page at a time; a stopped close resumes after the last page.
        let done = 0;
        const ended = await wallet.reconcileBankOperations(undefined, {
          cursor: ctx.cursor,
          onProgress: (cursor, progress) => {
            done = progress.done;
            return ctx.checkpoint(cursor, progress);
          },
        });
        await ctx.checkpoint(null, { done: Math.max(done, ended) });
      },
    },
    // Merchants' day netted of fees, payouts scheduled; yesterday's payouts sent (T+1).
    ...merchants.closeSteps(),
    // Orders first (payouts, confirmations, maturities), then the day's income on what is held.
    ...wealth.closeSteps(),
    // Pay-later: accrual, statements, the day's charges booked, auto-repayment, suspension.
    ...paylater.closeSteps(),
    // Loans: due processing, accrual, auto-debits from wallets (after the day's top-ups and fund
    // payouts have landed), penalties, aging and provisions, charge-offs.
    ...lending.closeSteps(),
    {
      // Every consenting user is rescored once a month, in the close of the month's first day. The
      // refresh keeps its own cursor per date (credit_refresh_runs), so a stopped close resumes it.
      name: 'credit.monthly-score-refresh',
      async run(ctx) {
        if (!ctx.businessDate.endsWith('-01')) return ctx.checkpoint(null, { done: 0, total: 0 });
        const report = await credit.refreshScores({
          businessDate: ctx.businessDate,
          onProgress: (p) => ctx.checkpoint(null, { done: p.processed }),
        });
        await ctx.checkpoint(null, { done: report.scored });
      },
    },
  ];
}
