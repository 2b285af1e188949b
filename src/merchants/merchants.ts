import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMigrations, type Migration } from '../db/index.ts';
import { balanceMethod } from './balance-method.ts';
import { BANK_CARD, bankCardMethod, reconcileCardPayments, settleCardPayment } from './bank-card-method.ts';
import { createDeviceSecretCipher } from './device-secret-cipher.ts';
import { ensurePlatformFeeAccount, MerchantDirectory } from './merchant-directory.ts';
import { MerchantKeys } from './merchant-keys.ts';
import { PaymentDevices } from './payment-devices.ts';
import { PaymentMethodRegistry } from './payment-methods.ts';
import { PaymentOrders } from './payment-orders.ts';
import { PaymentService } from './payments.ts';
import { reconcilePending } from './pending-reconciliation.ts';
import { Payouts } from './payouts.ts';
import { Refunds } from './refunds.ts';
import { scanPay } from './scan-pay.ts';
import { settlementCloseStep } from './settlement-close-step.ts';
import { Settlements } from './settlements.ts';
import type { Merchants, MerchantsOptions } from './types.ts';

export const merchantsMigrations: Migration[] = loadMigrations(
  'merchants',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);

export function createMerchants(options: MerchantsOptions): Merchants {
  const { db, ledger, clock, wallet, users, webhooks } = options;
  const directory = new MerchantDirectory(db, ledger, clock);
  const keys = new MerchantKeys(db, clock);
  const methods = new PaymentMethodRegistry();
  methods.register('balance', balanceMethod({ ledger, wallet }));
  methods.register(BANK_CARD, bankCardMethod(wallet));
  const payments = new PaymentService(db, clock, wallet, users, methods, webhooks, ledger);
  const orders = new PaymentOrders(db, clock, payments, webhooks);
  const devices = new PaymentDevices(db, clock, createDeviceSecretCipher(options.encryptionKey), methods);
  const refunds = new Refunds(db, ledger, clock, wallet, payments, webhooks, methods);
  const payouts = new Payouts(db, ledger, clock, wallet, webhooks);
  const settlements = new Settlements(db, ledger, clock, payouts);
  const cardDeps = { ledger, wallet, payments };
  const onboard = async (command: Parameters<Merchants['onboardMerchant']>[0]) => {
    const { merchant, created } = await directory.create(command);
    // The secret that signs events sent to its orders' notify URLs; shown this once.
    const signingSecret = created ? (await webhooks.rotateOwnerSecret(merchant.id)).secret : null;
    return { merchant, signingSecret };
  };
  let started = false;
  return {
    async start() {
      await ensurePlatformFeeAccount(ledger);
      if (!started) {
        wallet.onCardSettlement('payment', (settlement) => settleCardPayment(cardDeps, settlement));
        wallet.onCardSettlement('payout', (settlement) => payouts.onBankSettlement(settlement));
      }
      started = true;
    },
    createMerchant: async (command) => (await onboard(command)).merchant,
    onboardMerchant: onboard,
    setSettlementCardToken: (id, cardToken) => directory.setSettlementCardToken(id, cardToken),
    listSettlements: async (merchantId, range) => {
      await directory.get(merchantId);
      return settlements.list(merchantId, range);
    },
    closeSteps: (stepOptions) => [settlementCloseStep({ db, settlements, payouts }, stepOptions?.chunkSize)],
    createWebhookEndpoint: async (command) => {
      await directory.get(command.merchantId);
      return webhooks.createEndpoint({
        ownerId: command.merchantId,
        url: command.url,
        eventTypes: command.eventTypes,
        description: command.description,
      });
    },
    listWebhookEndpoints: async (merchantId) => {
      const endpoints = [];
      let cursor: string | undefined;
      do {
        const page = await webhooks.listEndpoints({ ownerId: merchantId, cursor, limit: 500 });
        endpoints.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      return endpoints;
    },
    getMerchant: (id) => directory.get(id),
    listMerchants: (query) => directory.list(query),
    setMerchantStatus: (id, status) => directory.setStatus(id, status),
    merchantBalance: (id) => directory.balance(id),
    createKey: (command) => keys.create(command),
    listKeys: (merchantId) => keys.list(merchantId),
    revokeKey: (merchantId, keyId) => keys.revoke(merchantId, keyId),
    authenticateKey: (plaintext) => keys.authenticate(plaintext),
    createOrder: (command) => orders.create(command),
    getOrder: (id, merchantId) => orders.get(id, merchantId),
    cancelOrder: (id, merchantId) => orders.cancel(id, merchantId),
    payOrder: (command) => orders.pay(command),
    payOrderInBatch: (command, effects, prefetched) => orders.payInBatch(command, effects, prefetched),
    prefetchOrderPayment: (orderId, userId) => orders.prefetch(orderId, userId),
    registerDevice: (command) => devices.register(command),
    listDevices: (userId) => devices.list(userId),
    revokeDevice: (userId, deviceId) => devices.revoke(userId, deviceId),
    scanPay: (command) => scanPay(devices, payments, clock, command),
    getPayment: (id, scope) => payments.get(id, scope),
    listPayments: (merchantId, query) => payments.list(merchantId, query),
    refund: (command) => refunds.refund(command),
    getRefund: (id, merchantId) => refunds.get(id, merchantId),
    refundedAmounts: (paymentIds) => refunds.refundedAmounts(paymentIds),
    registerPaymentMethod: (name, handler) => methods.register(name, handler),
    paymentMethods: () => methods.names(),
    validatePaymentMethod: (name, details) => methods.get(name).validate?.(details),
    checkPaymentMethodPayer: async (name, userId) => methods.get(name).checkPayer?.(userId),
    completePayment: (id) => payments.complete(id),
    failPayment: (id, code, message) => payments.fail(id, code, message),
    reconcileCardPayments: (olderThanMs = 60_000, walk) =>
      reconcileCardPayments(cardDeps, new Date(clock.now().getTime() - olderThanMs), walk),
    reconcilePending: (olderThanMs) => reconcilePending({ payments, refunds, clock }, { olderThanMs }),
  };
}
