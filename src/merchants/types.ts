import type { Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import type { BatchEffect, Ledger } from '../ledger/index.ts';
import type { Wallet, WalletUserDirectory } from '../wallet/index.ts';
import type { CloseStep } from '../jobs/index.ts';
import type { CreatedWebhookEndpoint, WebhookEndpoint, Webhooks } from '../webhooks/index.ts';
import type { CardReconcileWalk } from './bank-card-method.ts';
import type { PaymentMethodHandler } from './payment-methods.ts';

export type MerchantStatus = 'active' | 'suspended';

export interface Merchant {
  id: string;
  name: string;
  status: MerchantStatus;
  /** The platform's fee in basis points (1 bp = 0.01 %), taken at settlement, not at payment. */
  feeBps: number;
  /** The merchant's `merchant_payable` ledger account: what the platform owes the merchant. */
  ledgerAccountId: string;
  currency: string;
  /** The bank card or account token settlement pays out to (a sandbox token by default). */
  settlementCardToken: string;
  createdAt: Date;
  updatedAt: Date;
}

export const merchantScopes = ['payments:write', 'payments:read', 'refunds:write'] as const;
export type MerchantScope = (typeof merchantScopes)[number];

/** A merchant API key as stored and listed: never the secret. */
export interface MerchantKey {
  id: string;
  merchantId: string;
  name: string;
  scopes: MerchantScope[];
  prefix: string;
  last4: string;
  createdAt: Date;
  createdBy: string | null;
  revokedAt: Date | null;
}

/** Who a merchant API key speaks for, as the merchant routes see it. */
export interface AuthenticatedMerchant {
  merchantId: string;
  keyId: string;
  scopes: MerchantScope[];
}

export type PaymentOrderStatus = 'open' | 'pending' | 'paid' | 'cancelled';

export interface PaymentOrder {
  id: string;
  merchantId: string;
  merchantName: string;
  merchantReference: string;
  amount: bigint;
  currency: string;
  description: string;
  notifyUrl: string | null;
  /** `expired` is an open order past its expiry (computed at read time). */
  status: PaymentOrderStatus | 'expired';
  paymentId: string | null;
  expiresAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

export type PaymentStatus = 'pending' | 'succeeded' | 'failed';

export interface Payment {
  id: string;
  merchantId: string;
  userId: string;
  orderId: string | null;
  source: 'order' | 'code';
  method: string;
  amount: bigint;
  refunded: bigint;
  currency: string;
  /** The merchant's fee rate when the payment was made; settlement nets it later. */
  feeBps: number;
  description: string | null;
  status: PaymentStatus;
  failureCode: string | null;
  failureMessage: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface Refund {
  id: string;
  paymentId: string;
  merchantId: string;
  amount: bigint;
  currency: string;
  reason: string | null;
  status: PaymentStatus;
  failureCode: string | null;
  failureMessage: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface PaymentDevice {
  id: string;
  userId: string;
  deviceIndex: number;
  name: string;
  /** How the device's codes pay (the user's choice; 'balance' unless chosen). */
  fundingMethod: string;
  createdAt: Date;
  /** When the user revoked it: its codes pay nothing since. */
  revokedAt: Date | null;
}

export interface CreateMerchantCommand {
  id: string;
  name: string;
  feeBps: number;
  /** Where payouts go; default {@link DEFAULT_SETTLEMENT_CARD_TOKEN}. */
  settlementCardToken?: string | undefined;
}

export type PayoutStatus = 'scheduled' | 'sent' | 'paid' | 'failed';

/** A settlement's payout to the merchant's bank, due the business date after it. */
export interface Payout {
  id: string;
  dueDate: string;
  amount: bigint;
  status: PayoutStatus;
  attempt: number;
  failureCode: string | null;
  failureMessage: string | null;
  paidAt: Date | null;
}

/** One merchant's business date, settled in the end-of-day close. Amounts in fen. */
export interface Settlement {
  id: string;
  merchantId: string;
  businessDate: string;
  currency: string;
  paymentsCount: number;
  gross: bigint;
  refundsCount: number;
  refunds: bigint;
  /** Σ per-payment fee, each rounded half-even. */
  fees: bigint;
  /** gross − refunds − fees. */
  net: bigint;
  feesOwedIn: bigint;
  feesCollected: bigint;
  feesOwedOut: bigint;
  shortfallIn: bigint;
  shortfallOut: bigint;
  payoutAmount: bigint;
  /** Null when nothing is paid out for the day (payoutAmount 0). */
  payout: Payout | null;
  createdAt: Date;
}

export interface CreateOrderCommand {
  id: string;
  merchantId: string;
  merchantReference: string;
  amount: bigint;
  description: string;
  notifyUrl?: string | undefined;
  /** Seconds until the order expires: default 900 (15 minutes), at most 86,400 (a day). */
  expiresInSeconds?: number | undefined;
}

export interface PayOrderCommand {
  /** The payment's id: a retry with the same id is the same payment. */
  id: string;
  orderId: string;
  userId: string;
  method: string;
  /** Method-specific fields, such as `cardToken` for `bank_card`. */
  details?: Record<string, string> | undefined;
  /**
   * The caller has written nothing for this payment (the payment route), so a payer not yet
   * verified is refused `beforeAnyEffect`: the api forgets the Idempotency-Key and a retry under it
   * pays once the payer is verified. Left unset by a caller that wrote before paying (store
   * checkout claims its order first), whose refusal is stored and replayed as before.
   */
  unverifiedPayerBeforeAnyEffect?: boolean | undefined;
}

export interface ScanPayCommand {
  id: string;
  merchantId: string;
  /** The 18 digits the merchant scanned from the user's screen. */
  code: string;
  amount: bigint;
  description?: string | undefined;
  /** If given, it must be the device's own funding method: the customer chooses, not the merchant. */
  method?: string | undefined;
}

export interface RefundCommand {
  id: string;
  merchantId: string;
  paymentId: string;
  amount: bigint;
  reason?: string | undefined;
}

export interface ListQuery {
  cursor?: string | undefined;
  limit?: number | undefined;
}

export interface PageOf<T> {
  items: T[];
  nextCursor: string | null;
}

export interface MerchantsOptions {
  db: Database;
  ledger: Ledger;
  clock: Clock;
  wallet: Wallet;
  users: WalletUserDirectory;
  /** 32 bytes (the PII master key): a key for device secrets is derived from it with HKDF. */
  encryptionKey: Uint8Array;
  /**
   * Where payment, refund and settlement events go (owner = the merchant id), and what checks a
   * payment order's notify_url under the webhooks' own URL policy.
   */
  webhooks: MerchantWebhooks;
}

/** What merchants need of the webhooks module. */
export type MerchantWebhooks = Pick<
  Webhooks,
  | 'checkUrl'
  | 'enqueue'
  | 'enqueueMany'
  | 'rotateOwnerSecret'
  | 'createEndpoint'
  | 'listEndpoints'
  | 'getEndpoint'
>;

/** The merchants module's public API. */
export interface Merchants {
  /** Opens the shared platform accounts and listens for card settlements; call once at start. */
  start(): Promise<void>;
  createMerchant(command: CreateMerchantCommand): Promise<Merchant>;
  /**
   * Onboards a merchant and creates its webhook signing secret (for payment orders' notify URLs),
   * returned this once; null when the merchant already existed (a retried request).
   */
  onboardMerchant(
    command: CreateMerchantCommand,
  ): Promise<{ merchant: Merchant; signingSecret: string | null }>;
  setSettlementCardToken(id: string, cardToken: string): Promise<Merchant>;
  /** A merchant's settlements with business dates from `from` to `to` (inclusive), oldest first. */
  listSettlements(merchantId: string, range: { from: string; to: string }): Promise<Settlement[]>;
  /** The end-of-day close step `merchants.settlement` (merchants per checkpoint: default 100). */
  closeSteps(options?: { chunkSize?: number }): CloseStep[];
  createWebhookEndpoint(command: {
    merchantId: string;
    url: string;
    eventTypes?: readonly string[] | undefined;
    description?: string | null | undefined;
  }): Promise<CreatedWebhookEndpoint>;
  listWebhookEndpoints(merchantId: string): Promise<WebhookEndpoint[]>;
  getMerchant(id: string): Promise<Merchant>;
  listMerchants(query?: ListQuery): Promise<PageOf<Merchant>>;
  setMerchantStatus(id: string, status: MerchantStatus): Promise<Merchant>;
  /** The merchant's payable balance in the ledger (posted, available). */
  merchantBalance(id: string): Promise<{ posted: bigint; available: bigint }>;

  createKey(command: {
    merchantId: string;
    name: string;
    scopes: readonly MerchantScope[];
    createdBy?: string | null;
  }): Promise<{ key: MerchantKey; plaintext: string }>;
  listKeys(merchantId: string): Promise<MerchantKey[]>;
  revokeKey(merchantId: string, keyId: string): Promise<MerchantKey>;
  authenticateKey(plaintext: string): Promise<AuthenticatedMerchant | undefined>;

  createOrder(command: CreateOrderCommand): Promise<PaymentOrder>;
  /** With merchantId, only that merchant's order is found. */
  getOrder(id: string, merchantId?: string): Promise<PaymentOrder>;
  cancelOrder(id: string, merchantId: string): Promise<PaymentOrder>;
  payOrder(command: PayOrderCommand): Promise<Payment>;
  /**
   * Pays the order in the ledger's group-commit batch when it can (a method with a ledger
   * `transfer`, a fresh payment id): the payment, the order, the class-limit charge and the
   * caller's `effects` (built with a getter for the payment's record, valid once it is decided)
   * commit with the money, one transaction for many payments. Undefined when it cannot: call
   * `payOrder`. Refusals decided in the batch reject with their error, recorded with the effects.
   */
  payOrderInBatch(
    command: PayOrderCommand,
    effects: (recorded: () => Payment) => BatchEffect[],
    prefetched?: OrderPaymentReads,
  ): Promise<Payment | undefined>;
  /**
   * Starts the reads `payOrderInBatch` makes (the order, the payer) ahead of it, for example while
   * the user's session is still being read; it uses them when its command names the same order
   * and user. Reads only: nothing is decided until the payment runs. Undefined for ids that are
   * not UUIDs.
   */
  prefetchOrderPayment(orderId: string, userId: string): OrderPaymentReads | undefined;

  /** The secret is null when a retry of the same id finds the device (it was shown once). */
  registerDevice(command: {
    id: string;
    userId: string;
    name?: string | undefined;
    /** A registered method that pays without details; 'balance' by default. */
    fundingMethod?: string | undefined;
  }): Promise<{ device: PaymentDevice; secret: Buffer | null }>;
  /** The user's payment devices (never their secrets), revoked ones included. */
  listDevices(userId: string): Promise<PaymentDevice[]>;
  /** Stops a device's codes at once (PAYMENT_DEVICE_NOT_FOUND for another user's); repeatable. */
  revokeDevice(userId: string, deviceId: string): Promise<PaymentDevice>;
  scanPay(command: ScanPayCommand): Promise<Payment>;

  getPayment(id: string, scope?: { merchantId?: string; userId?: string }): Promise<Payment>;
  listPayments(merchantId: string, query?: ListQuery & { status?: PaymentStatus }): Promise<PageOf<Payment>>;
  refund(command: RefundCommand): Promise<Refund>;
  getRefund(id: string, merchantId?: string): Promise<Refund>;
  /**
   * What succeeded refunds have returned on each of these payments (money moved in the ledger;
   * a pending refund's reservation is not counted). Payments with none are absent.
   */
  refundedAmounts(paymentIds: readonly string[]): Promise<ReadonlyMap<string, bigint>>;

  /** The extension point for checkout methods (pay-later, instalments). */
  registerPaymentMethod(name: string, handler: PaymentMethodHandler): void;
  paymentMethods(): string[];
  /**
   * Checks that `name` is registered and would take `details`, as a payment with them would,
   * without recording anything (PAYMENT_METHOD_UNKNOWN, or the method's VALIDATION_FAILED): for
   * callers that choose a method now and pay with it later.
   */
  validatePaymentMethod(name: string, details: Readonly<Record<string, string>>): void;
  /**
   * Checks that `userId` could pay with `name` now (the method's `checkPayer`: a pay-later line
   * open and not suspended), for the same callers; the method's own error when not.
   */
  checkPaymentMethodPayer(name: string, userId: string): Promise<void>;
  /** For asynchronous methods: report the outcome of a pending payment. */
  completePayment(id: string): Promise<Payment>;
  failPayment(id: string, code: string, message: string): Promise<Payment>;
  /**
   * Asks the bank about card payments still pending after `olderThanMs`; run by the jobs module.
   * Walks every one a page at a time; one the bank cannot answer about is skipped (logged), and one
   * that cannot be ended is thrown after the others have been.
   */
  reconcileCardPayments(olderThanMs?: number, walk?: CardReconcileWalk): Promise<number>;
  /**
   * Drives on payments (other than by card) and refunds still pending after `olderThanMs` (default
   * a minute) because their ledger call ended undecided; returns how many it decided. Run by the
   * jobs module.
   */
  reconcilePending(olderThanMs?: number): Promise<number>;
}

/** Reads started ahead of an order's payment (`prefetchOrderPayment`); opaque to callers. */
export interface OrderPaymentReads {
  readonly orderId: string;
  readonly userId: string;
}
