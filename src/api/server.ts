import { randomBytes } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { systemClock, type Clock } from '../core/index.ts';
import type { CreditService } from '../credit/index.ts';
import type { Database } from '../db/index.ts';
import type { Identity } from '../identity/index.ts';
import type { EndOfDayClose } from '../jobs/index.ts';
import type { Ledger } from '../ledger/index.ts';
import type { Lending } from '../lending/index.ts';
import type { Marketplace } from '../marketplace/index.ts';
import type { Merchants } from '../merchants/index.ts';
import type { PayPoints } from '../paypoints/index.ts';
import type { Paylater } from '../paylater/index.ts';
import type { Store } from '../store/index.ts';
import type { Wallet } from '../wallet/index.ts';
import type { Wealth } from '../wealth/index.ts';
import type { Webhooks } from '../webhooks/index.ts';
import { installOperatorAuth } from './auth-hooks.ts';
import { createAuditLog, installAuditLog } from './audit-log.ts';
import { auditLogRoutes } from './routes/audit-log-routes.ts';
import { installUserAuth } from './user-auth-hooks.ts';
import { installMerchantAuth } from './merchant-auth-hooks.ts';
import { installConnectionDrain } from './connection-drain.ts';
import { installErrorHandling, replyWithError } from './error-handler.ts';
import { installHttpMetrics } from './http-metrics.ts';
import { installIdempotency, type IdempotencyOptions } from './idempotency-hooks.ts';
import { createLogger } from './logger.ts';
import { installNulGuard } from './nul-guard.ts';
import { installOpenApi } from './openapi.ts';
import { createOperatorKeyStore, type OperatorKeyStore } from './operator-keys.ts';
import { healthRoutes } from './routes/health-routes.ts';
import { identityRoutes } from './routes/identity-routes.ts';
import { ledgerAccountRoutes } from './routes/ledger-account-routes.ts';
import { ledgerEntryRoutes } from './routes/ledger-entry-routes.ts';
import { ledgerHoldRoutes } from './routes/ledger-hold-routes.ts';
import { operatorKeyRoutes } from './routes/operator-key-routes.ts';
import { walletOperatorRoutes, walletRoutes } from './routes/wallet-routes.ts';
import { merchantOperatorRoutes } from './routes/merchant-operator-routes.ts';
import { merchantRoutes } from './routes/merchant-routes.ts';
import { paymentRoutes } from './routes/payment-routes.ts';
import { creditRoutes } from './routes/credit-routes.ts';
import { lendingOperatorRoutes, lendingRoutes } from './routes/lending-routes.ts';
import { merchantServiceOrderRoutes, userServiceOrderRoutes } from './routes/paypoints-routes.ts';
import { wealthOperatorRoutes, wealthRoutes } from './routes/wealth-routes.ts';
import { webhookRoutes } from './routes/webhook-routes.ts';
import { closeRunRoutes } from './routes/close-run-routes.ts';
import { installWebApp } from './web-app.ts';
import {
  marketplaceCallbackRoutes,
  marketplaceOperatorRoutes,
  marketplaceUserRoutes,
} from './routes/marketplace-routes.ts';
import { paylaterOperatorRoutes, paylaterRoutes } from './routes/paylater-routes.ts';
import { storeOperatorRoutes, storeRoutes } from './routes/store-routes.ts';
import { milletVersion } from './version.ts';
import { bodyValidatorCompiler } from './unknown-fields.ts';

export interface ServerOptions {
  ledger: Ledger;
  db: Database;
  clock?: Clock;
  /** Where /metrics reads from; pass the ledger's registry so its metrics show too. */
  registry?: Registry;
  logger?: Logger;
  operatorKeys?: OperatorKeyStore;
  idempotency?: IdempotencyOptions;
  /** Users, sessions and identity verification; the user routes are served when given. */
  identity?: Identity;
  /** The user's wallet; served with identity (its routes need a logged-in user). */
  wallet?: Wallet;
  /** Merchants, payment orders, payment codes, refunds; operator and merchant routes when given. */
  merchants?: Merchants;
  /** The credit score service; its user routes (with identity) and operator routes when given. */
  credit?: CreditService;
  /** Pay Points service orders; merchant routes (with merchants) and user routes (with identity). */
  paypoints?: PayPoints;
  /** Webhook endpoints and deliveries; the operator routes under /v1/operator/webhooks when given. */
  webhooks?: Webhooks;
  /** Money funds and fixed-term products; operator routes under /v1/operator/wealth, user routes with identity. */
  wealth?: Wealth;
  /** The pay-later line; operator routes under /v1/operator/paylater, user routes with identity. */
  paylater?: Paylater;
  /** Cash loans; operator routes under /v1/operator/lending, user routes with identity. */
  lending?: Lending;
  /** The end-of-day close; its operator routes under /v1/operator/close-runs when given. */
  endOfDay?: EndOfDayClose;
  /** The built web app's folder (web/dist): the wallet at / and the console at /console when given. */
  webRoot?: string;
  /** The loan marketplace; operator routes, partner callbacks, and user routes with identity. */
  marketplace?: Marketplace;
  /** The store and flash sales; operator routes under /v1/operator/store, user routes with identity. */
  store?: Store;
  /** Largest request body in bytes. */
  bodyLimit?: number;
  /** Fastify's trustProxy: whose X-Forwarded-For sets request.ip (Config.trustProxy). */
  trustProxy?: boolean | number | string;
}

const REQUEST_ID_HEADER = 'x-request-id';

/**
 * The HTTP API. Returns the Fastify instance unstarted: call `ready()` (tests with `inject`) or
 * `listen()`. Routes added before then get the same auth, idempotency and error handling.
 */
export function buildServer(options: ServerOptions): FastifyInstance {
  const clock = options.clock ?? systemClock;
  const registry = options.registry ?? new Registry();
  const operatorKeys = options.operatorKeys ?? createOperatorKeyStore({ db: options.db, clock });

  // Typed as Fastify's logger interface so the instance has Fastify's default generics.
  const loggerInstance: FastifyBaseLogger = options.logger ?? createLogger();
  // Our own request ids: a random prefix per server and a counter, unique without drawing random
  // bytes and formatting a UUID for every request (a flash sale's attempts come thousands a second).
  const requestIdPrefix = randomBytes(9).toString('base64url');
  let requests = 0;
  const trustProxy = options.trustProxy ?? false;
  const app = Fastify({
    loggerInstance,
    // Keep a caller's request id (a gateway's) so one id follows the request across services.
    genReqId: (req) => {
      const given = req.headers[REQUEST_ID_HEADER];
      if (typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given)) return given;
      requests += 1;
      return `${requestIdPrefix}-${requests.toString(36)}`;
    },
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // A number of hops, which Fastify's types leave out, as the rule proxy-addr makes of one.
    trustProxy:
      typeof trustProxy === 'number' ? (_address: string, hop: number) => hop < trustProxy : trustProxy,
    return503OnClosing: true,
    // Errors raised before routing (a path parameter over the length limit, a malformed URL) answer
    // as problem+json too, not with Fastify's own JSON.
    frameworkErrors: (error, request, reply) => replyWithError(error, request, reply),
  });
  app.setValidatorCompiler(bodyValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  installErrorHandling(app);
  installConnectionDrain(app);
  installNulGuard(app);
  installHttpMetrics(app, registry);
  installOperatorAuth(app, operatorKeys);
  if (options.identity) installUserAuth(app, options.identity);
  if (options.merchants) installMerchantAuth(app, options.merchants);
  installIdempotency(app, { db: options.db, clock, options: options.idempotency });
  // After idempotency: the answer is stored before its audit entry is written.
  installAuditLog(app, { db: options.db, clock });
  // Set as the request arrives (a callback hook: no promise per request), so every answer, error or
  // not, carries it.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });

  installOpenApi(app, { version: milletVersion });
  void app.register(healthRoutes, { db: options.db });
  void app.register(operatorKeyRoutes, { prefix: '/v1/operator', operatorKeys });
  void app.register(auditLogRoutes, { prefix: '/v1/operator', auditLog: createAuditLog(options.db) });
  if (options.identity) void app.register(identityRoutes, { prefix: '/v1', identity: options.identity });
  if (options.identity && options.wallet)
    void app.register(walletRoutes, { prefix: '/v1', wallet: options.wallet });
  if (options.wallet)
    void app.register(walletOperatorRoutes, { prefix: '/v1/operator/wallet', wallet: options.wallet });
  if (options.merchants) {
    const merchants = options.merchants;
    void app.register(merchantOperatorRoutes, { prefix: '/v1/operator/merchants', merchants });
    void app.register(merchantRoutes, { prefix: '/v1/merchant', merchants });
    if (options.identity) void app.register(paymentRoutes, { prefix: '/v1', merchants });
  }
  if (options.identity && options.credit)
    void app.register(creditRoutes, { prefix: '/v1', credit: options.credit });
  if (options.paypoints && options.merchants)
    void app.register(merchantServiceOrderRoutes, { prefix: '/v1/merchant', paypoints: options.paypoints });
  if (options.paypoints && options.identity)
    void app.register(userServiceOrderRoutes, { prefix: '/v1', paypoints: options.paypoints });
  if (options.wealth) {
    void app.register(wealthOperatorRoutes, { prefix: '/v1/operator/wealth', wealth: options.wealth });
    if (options.identity) void app.register(wealthRoutes, { prefix: '/v1', wealth: options.wealth });
  }
  if (options.paylater) {
    const paylater = options.paylater;
    void app.register(paylaterOperatorRoutes, { prefix: '/v1/operator/paylater', paylater });
    if (options.identity) void app.register(paylaterRoutes, { prefix: '/v1', paylater });
  }
  if (options.lending) {
    void app.register(lendingOperatorRoutes, { prefix: '/v1/operator/lending', lending: options.lending });
    if (options.identity) void app.register(lendingRoutes, { prefix: '/v1', lending: options.lending });
  }
  if (options.marketplace) {
    const marketplace = options.marketplace;
    void app.register(marketplaceOperatorRoutes, { prefix: '/v1/operator/marketplace', marketplace });
    void app.register(marketplaceCallbackRoutes, { prefix: '/v1', marketplace });
    if (options.identity) void app.register(marketplaceUserRoutes, { prefix: '/v1', marketplace });
  }
  if (options.store) {
    void app.register(storeOperatorRoutes, { prefix: '/v1/operator/store', store: options.store });
    if (options.identity) void app.register(storeRoutes, { prefix: '/v1/store', store: options.store });
  }
  if (options.webhooks)
    void app.register(webhookRoutes, { prefix: '/v1/operator/webhooks', webhooks: options.webhooks });
  if (options.endOfDay)
    void app.register(closeRunRoutes, { prefix: '/v1/operator/close-runs', endOfDay: options.endOfDay });
  const webRoot = options.webRoot;
  if (webRoot) void app.register(async (webApp) => installWebApp(webApp, webRoot));
  void app.register(
    async (ledgerApp) => {
      await ledgerApp.register(ledgerAccountRoutes, { ledger: options.ledger });
      await ledgerApp.register(ledgerEntryRoutes, { ledger: options.ledger });
      await ledgerApp.register(ledgerHoldRoutes, { ledger: options.ledger });
    },
    { prefix: '/v1/ledger' },
  );
  return app;
}
