/**
 * How identity sends text messages: a verification code to a phone. Mainland SMS gateways send
 * only templates filed with the carrier in advance, so the gateway is given the template's values
 * (purpose, code, validity), not free text.
 */
/**
 * What a code proves the phone for. A code only works for its own purpose; the send limits are one
 * allowance per phone, whatever the purpose.
 */
export const phoneVerificationPurposes = ['sign_up', 'password_reset'] as const;
export type PhoneVerificationPurpose = (typeof phoneVerificationPurposes)[number];

export interface VerificationCodeMessage {
  /** E.164. */
  to: string;
  purpose: PhoneVerificationPurpose;
  /** Six digits. */
  code: string;
  expiresInMinutes: number;
}

export interface SmsSender {
  /** Resolves when the gateway took the message; throws when it did not. */
  sendVerificationCode(message: VerificationCodeMessage): Promise<void>;
}
