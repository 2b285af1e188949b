import type { ErrorCode } from '../core/index.ts';

/**
 * The HTTP status of every stable error code, in one place. Typed as a full Record so adding a code
 * to src/core/error-codes.ts without choosing its status fails the type check.
 */
export const errorStatuses: Record<ErrorCode, number> = {
  // generic
  VALIDATION_FAILED: 400,
  NOT_FOUND: 404,
  INTERNAL: 500,
  UNAUTHENTICATED: 401,
  FORBIDDEN_SCOPE: 403,
  RATE_LIMITED: 429,
  IDEMPOTENCY_KEY_REQUIRED: 400,
  IDEMPOTENCY_KEY_REUSED: 422,
  IDEMPOTENCY_KEY_IN_PROGRESS: 409,
  REQUEST_MALFORMED: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  API_KEY_NOT_FOUND: 404,
  // storage
  DATABASE_LOCKED: 503,
  DATABASE_UNAVAILABLE: 503,
  // ledger: 404 for what does not exist, 409 for a clash with the ledger's current state,
  // 422 for a well-formed request the ledger's rules refuse.
  ACCOUNT_NOT_FOUND: 404,
  ACCOUNT_ID_CONFLICT: 409,
  ENTRY_UNBALANCED: 422,
  ENTRY_TOO_FEW_LEGS: 422,
  ENTRY_ID_CONFLICT: 409,
  ENTRY_NOT_FOUND: 404,
  ENTRY_NOT_REVERSIBLE: 422,
  ENTRY_ALREADY_REVERSED: 409,
  AMOUNT_INVALID: 422,
  CURRENCY_MISMATCH: 422,
  INSUFFICIENT_FUNDS: 422,
  OVERDRAFT_LIMIT_EXCEEDED: 422,
  CREDIT_LIMIT_EXCEEDED: 422,
  ACCOUNT_CREDIT_ONLY: 422,
  HOLD_NOT_FOUND: 404,
  HOLD_NOT_PENDING: 409,
  HOLD_EXPIRED: 409,
  HOLD_POST_EXCEEDS_AMOUNT: 422,
  LEDGER_UNAVAILABLE: 503,
  // identity: 401 for credentials and tokens (the client logs in or refreshes), 409 for a clash
  // with another user, 422 for input the identity rules refuse.
  PHONE_INVALID: 422,
  PASSWORD_TOO_WEAK: 422,
  PHONE_ALREADY_REGISTERED: 409,
  INVALID_CREDENTIALS: 401,
  ACCESS_TOKEN_EXPIRED: 401,
  REFRESH_TOKEN_INVALID: 401,
  REFRESH_TOKEN_REUSED: 401,
  USER_NOT_FOUND: 404,
  REAL_NAME_INVALID: 422,
  RESIDENT_ID_INVALID: 422,
  RESIDENT_ID_ALREADY_REGISTERED: 409,
  IDENTITY_ALREADY_VERIFIED: 409,
  // credit scoring: bad input data or a protected field offered as a model input is the caller's
  // request to fix (422); a model artifact that does not load is the server's fault (500).
  CREDIT_DATA_INVALID: 422,
  CREDIT_PROTECTED_FIELD: 422,
  CREDIT_ARTIFACT_INVALID: 500,
  // score service: scoring without consent, or for a minor, is refused (403); the first score needs
  // the application answers (422).
  CONSENT_REQUIRED: 403,
  CONSENT_NOT_FOUND: 404,
  CREDIT_UNDERAGE: 403,
  CREDIT_APPLICATION_REQUIRED: 422,
  CREDIT_SCORE_NOT_FOUND: 404,
  WALLET_NOT_FOUND: 404,
  IDENTITY_NOT_VERIFIED: 403,
  PAYMENT_LIMIT_EXCEEDED: 422,
  BANK_DECLINED: 422,
  TOP_UP_NOT_FOUND: 404,
  WITHDRAWAL_NOT_FOUND: 404,
  TRANSFER_NOT_FOUND: 404,
  TRANSFER_TO_SELF: 422,
  // merchants and payments: 409 for a clash with a record's state (an order already paid, a code
  // already used), 422 for a payment the rules refuse.
  MERCHANT_NOT_FOUND: 404,
  MERCHANT_SUSPENDED: 422,
  MERCHANT_REFERENCE_TAKEN: 409,
  MERCHANT_BALANCE_INSUFFICIENT: 422,
  PAYMENT_ORDER_NOT_FOUND: 404,
  PAYMENT_ORDER_EXPIRED: 409,
  PAYMENT_ORDER_CANCELLED: 409,
  PAYMENT_ORDER_ALREADY_PAID: 409,
  PAYMENT_NOT_FOUND: 404,
  PAYMENT_NOT_REFUNDABLE: 409,
  PAYMENT_METHOD_UNKNOWN: 422,
  PAYMENT_CODE_INVALID: 422,
  PAYMENT_CODE_EXPIRED: 422,
  PAYMENT_CODE_USED: 409,
  REFUND_EXCEEDS_PAYMENT: 422,
  REFUND_NOT_FOUND: 404,
  // webhooks: a notify URL for an owner without a signing secret is a state to fix first (409).
  WEBHOOK_URL_INVALID: 422,
  WEBHOOK_ENDPOINT_NOT_FOUND: 404,
  WEBHOOK_DELIVERY_NOT_FOUND: 404,
  WEBHOOK_SIGNING_SECRET_MISSING: 409,
  // wealth: a locked fixed-term product, a day already published with another rate or a close
  // waiting for a rate are states (409); too few shares or over the fast-redemption cap are rules (422).
  WEALTH_PRODUCT_NOT_FOUND: 404,
  WEALTH_PRODUCT_LOCKED: 409,
  WEALTH_INSUFFICIENT_SHARES: 422,
  WEALTH_FAST_REDEMPTION_LIMIT_EXCEEDED: 422,
  WEALTH_INCOME_NOT_PUBLISHED: 409,
  WEALTH_RATE_CONFLICT: 409,
  // pay-later: a line's state (exists, suspended, a statement past converting) is 409; rules
  // (over the limit, not eligible, more than is owed) are 422.
  PAYLATER_PRODUCT_NOT_FOUND: 404,
  PAYLATER_BANDS_MISSING: 409,
  PAYLATER_NOT_ELIGIBLE: 422,
  PAYLATER_LINE_EXISTS: 409,
  PAYLATER_LINE_NOT_FOUND: 404,
  PAYLATER_LINE_SUSPENDED: 409,
  PAYLATER_LIMIT_EXCEEDED: 422,
  PAYLATER_TERM_UNAVAILABLE: 422,
  PAYLATER_REPAYMENT_EXCEEDS_BALANCE: 422,
  PAYLATER_STATEMENT_NOT_FOUND: 404,
  PAYLATER_STATEMENT_NOT_CONVERTIBLE: 409,
  PAYLATER_PLAN_NOT_FOUND: 404,
  PAYLATER_NOT_DAILY_MODE: 409,
  // lending: an APR over the 24% ceiling and cash flows without an IRR are requests the rules refuse.
  APR_ABOVE_CAP: 422,
  LENDING_CASH_FLOWS_INVALID: 422,
};
