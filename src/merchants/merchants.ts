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
import { Refunds } from './refunds.ts';
import { scanPay } from './scan-pay.ts';
import type { Merchants, MerchantsOptions } from './types.ts';

export const merchantsMigrations: Migration[] = loadMigrations(
  'merchants',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);

export function createMerchants(options: MerchantsOptions): Merchants {
  const { db, ledger, clock, wallet, users } = options;
  const directory = new MerchantDirectory(db, ledger, clock);
  const keys = new MerchantKeys(db, clock);
  const methods = new PaymentMethodRegistry();
  methods.register('balance', balanceMethod({ ledger, wallet }));
  methods.register(BANK_CARD, bankCardMethod(wallet));
  const payments = new PaymentService(db, clock, wallet, users, methods);
  const orders = new PaymentOrders(db, clock, payments);
  const devices = new PaymentDevices(db, clock, createDeviceSecretCipher(options.encryptionKey));
  const refunds = new Refunds(db, ledger, clock, wallet, payments);
  const cardDeps = { ledger, wallet, payments };
  let started = false;
  return {
    async start() {
      await ensurePlatformFeeAccount(ledger);
      if (!started) wallet.onCardSettlement((settlement) => settleCardPayment(cardDeps, settlement));
      started = true;
    },
    createMerchant: (command) => directory.create(command),
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
    registerDevice: (command) => devices.register(command),
    scanPay: (command) => scanPay(devices, payments, clock, command),
    getPayment: (id, scope) => payments.get(id, scope),
    listPayments: (merchantId, query) => payments.list(merchantId, query),
    refund: (command) => refunds.refund(command),
    getRefund: (id, merchantId) => refunds.get(id, merchantId),
    registerPaymentMethod: (name, handler) => methods.register(name, handler),
    paymentMethods: () => methods.names(),
    completePayment: (id) => payments.complete(id),
    failPayment: (id, code, message) => payments.fail(id, code, message),
    reconcileCardPayments: (olderThanMs = 60_000) =>
      reconcileCardPayments(cardDeps, new Date(clock.now().getTime() - olderThanMs)),
  };
}
