import type { ErrorCode } from './error-codes.ts';

/**
 * The one error type that crosses module boundaries. `code` is stable and machine-readable;
 * `message` is for people; `details` carries the fields a client needs to act (never PII).
 */
export class MilletError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  /**
   * The request was refused before it changed anything (no row, hold, posting or outside call, and
   * none to come), so the api forgets its Idempotency-Key instead of storing the refusal, and a
   * retry under that key runs afresh — it may pass once the user has, say, verified their
   * identity. Set only where that is certain; an unmarked refusal is stored and replayed.
   */
  readonly beforeAnyEffect: boolean;

  constructor(
    code: ErrorCode,
    message: string,
    details?: Record<string, unknown>,
    options?: { beforeAnyEffect?: boolean },
  ) {
    super(message);
    this.name = 'MilletError';
    this.code = code;
    this.details = details;
    this.beforeAnyEffect = options?.beforeAnyEffect ?? false;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details
      ? { code: this.code, message: this.message, details: { ...this.details } }
      : { code: this.code, message: this.message };
  }
}

export function isMilletError(error: unknown): error is MilletError {
  return error instanceof MilletError;
}

/**
 * A MilletError for a refusal that is part of normal traffic on a hot path (a flash-sale attempt
 * turned away: sold out, limit reached, anti-scalper rules). The same error, without the stack
 * trace that nobody reads for these and that costs a walk of the stack on every one.
 */
export function refusal(code: ErrorCode, message: string, details?: Record<string, unknown>): MilletError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new MilletError(code, message, details);
  } finally {
    Error.stackTraceLimit = limit;
  }
}
