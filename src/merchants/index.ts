export { createMerchants, merchantsMigrations } from './merchants.ts';
export {
  merchantScopes,
  type AuthenticatedMerchant,
  type CreateMerchantCommand,
  type CreateOrderCommand,
  type Merchant,
  type MerchantKey,
  type Merchants,
  type MerchantScope,
  type MerchantsOptions,
  type MerchantStatus,
  type MerchantWebhooks,
  type Payout,
  type PayoutStatus,
  type Settlement,
  type Payment,
  type PaymentDevice,
  type PaymentOrder,
  type PaymentStatus,
  type OrderPaymentReads,
  type Refund,
} from './types.ts';
export { paymentCode, PAYMENT_CODE_STEP_MS } from './payment-code.ts';
export type { CardReconcileWalk } from './bank-card-method.ts';
export type {
  CollectionResult,
  PaymentCollection,
  PaymentMethodHandler,
  PaymentRefund,
} from './payment-methods.ts';
export { MERCHANT_KEY_PREFIX } from './merchant-keys.ts';
export { DEFAULT_ORDER_TTL_SECONDS, MAX_ORDER_TTL_SECONDS } from './payment-orders.ts';
export { DEFAULT_SETTLEMENT_CARD_TOKEN } from './merchant-directory.ts';
export { paymentFee, settlementAmounts, type SettlementAmounts } from './settlement-amounts.ts';
export { SETTLEMENT_STEP } from './settlement-close-step.ts';
