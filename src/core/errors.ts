import type { ErrorCode } from './error-codes.ts';

/**
 * The one error type that crosses module boundaries. `code` is stable and machine-readable;
 * `message` is for people; `details` carries the fields a client needs to act (never PII).
 */
export class MilletError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'MilletError';
    this.code = code;
    this.details = details;
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
