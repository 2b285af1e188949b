/**
 * Every stable error code Millet can return. Clients branch on these strings, so a code is never
 * renamed or reused; the HTTP status of each lives in one table in `src/api/error-statuses.ts`.
 */
export const errorCodes = [
  // generic
  'VALIDATION_FAILED',
  'NOT_FOUND',
  'INTERNAL',
  'UNAUTHENTICATED',
  'FORBIDDEN_SCOPE',
  'RATE_LIMITED',
  'IDEMPOTENCY_KEY_REQUIRED',
  'IDEMPOTENCY_KEY_REUSED',
  'IDEMPOTENCY_KEY_IN_PROGRESS',
  'REQUEST_MALFORMED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'API_KEY_NOT_FOUND',
  // storage
  'DATABASE_LOCKED',
  'DATABASE_UNAVAILABLE',
  // ledger
  'ACCOUNT_NOT_FOUND',
  'ACCOUNT_ID_CONFLICT',
  'ENTRY_UNBALANCED',
  'ENTRY_TOO_FEW_LEGS',
  'ENTRY_ID_CONFLICT',
  'ENTRY_NOT_FOUND',
  'ENTRY_NOT_REVERSIBLE',
  'ENTRY_ALREADY_REVERSED',
  'AMOUNT_INVALID',
  'CURRENCY_MISMATCH',
  'INSUFFICIENT_FUNDS',
  'OVERDRAFT_LIMIT_EXCEEDED',
  'CREDIT_LIMIT_EXCEEDED',
  'ACCOUNT_CREDIT_ONLY',
  'HOLD_NOT_FOUND',
  'HOLD_NOT_PENDING',
  'HOLD_EXPIRED',
  'HOLD_POST_EXCEEDS_AMOUNT',
  'LEDGER_UNAVAILABLE',
] as const;

export type ErrorCode = (typeof errorCodes)[number];
