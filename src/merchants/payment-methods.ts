import { MilletError } from '../core/index.ts';
import type { TransferCommand } from '../ledger/index.ts';

/**
 * Checkout methods. Every payment names one; a method's handler takes the money from the payer and
 * puts it in the merchant's `merchant_payable` account, at once (`balance`) or later (`bank_card`
 * when the bank settles). Pay-later and instalments plug in here with `registerPaymentMethod`.
 *
 * The payment record and the charge against the payer's account-class limit are written before the
 * handler runs, whatever the method; a handler that throws a MilletError fails the payment and
 * gives the allowance back.
 */
export interface PaymentCollection {
  paymentId: string;
  merchantId: string;
  userId: string;
  amount: bigint;
  currency: string;
  /** Where the money must end up: the merchant's payable account. */
  merchantAccountId: string;
  /** Method-specific input from the request, such as `cardToken`. */
  details: Readonly<Record<string, string>>;
}

export type CollectionResult =
  /** The money is in the merchant's account. */
  | { status: 'succeeded' }
  /** Still moving; the method reports the outcome through completePayment / failPayment. */
  | { status: 'pending'; reference?: string };

export interface PaymentMethodHandler {
  /** Checks method-specific input before anything is recorded; throw VALIDATION_FAILED. */
  validate?(details: Readonly<Record<string, string>>): void;
  /**
   * Moves (or starts moving) the money. Called again when a pending payment is retried, so it must
   * be idempotent by `paymentId`: derive ledger entry ids from it with derivedId.
   */
  collect(payment: PaymentCollection): Promise<CollectionResult>;
  /**
   * Optional, for methods that pay at once with one ledger transfer (`balance`): the transfer that
   * `collect` would make, described instead of made — same id, same legs. With it, a payment of an
   * order commits with its records (payment, order, class-limit charge, idempotent response) in
   * the ledger's group-commit batch. Throwing a MilletError here sends the payment the ordinary
   * way, through `collect`. Methods without it (bank cards, pay-later) always go through `collect`.
   */
  transfer?(payment: PaymentCollection): Promise<TransferCommand>;
  /**
   * Optional: moves a refund's money instead of the default merchant_payable → payer's wallet
   * transfer (pay-later lowers the line's balance). Must take `amount` from `merchantAccountId`
   * and be idempotent by `refundId`; a MilletError (INSUFFICIENT_FUNDS…) fails the refund.
   */
  refund?(refund: PaymentRefund): Promise<void>;
  /**
   * Optional: refuses a payer who cannot pay with this method at all now (pay-later: no line, or a
   * suspended one), for callers that choose a method now and pay with it later. Whether an amount
   * fits is left to the payment.
   */
  checkPayer?(userId: string): Promise<void>;
}

export interface PaymentRefund {
  refundId: string;
  paymentId: string;
  merchantId: string;
  userId: string;
  amount: bigint;
  merchantAccountId: string;
}

const methodName = /^[a-z][a-z0-9_]{1,31}$/;

export class PaymentMethodRegistry {
  readonly #handlers = new Map<string, PaymentMethodHandler>();

  register(name: string, handler: PaymentMethodHandler): void {
    if (!methodName.test(name))
      throw new Error(`A payment method name is 2–32 lowercase letters, digits or _: ${name}`);
    if (this.#handlers.has(name)) throw new Error(`Payment method ${name} is already registered`);
    this.#handlers.set(name, handler);
  }

  get(name: string): PaymentMethodHandler {
    const handler = this.#handlers.get(name);
    if (!handler)
      throw new MilletError(
        'PAYMENT_METHOD_UNKNOWN',
        `Unknown payment method "${name}"; available: ${this.names().join(', ')}`,
        { method: name, available: this.names() },
      );
    return handler;
  }

  names(): string[] {
    return [...this.#handlers.keys()].sort();
  }
}
