export { createIdentity, identityMigrations } from './identity.ts';
export { resolvePiiKey, decodePiiKey, PII_KEY_FILE, type ResolvedPiiKey } from './pii-key.ts';
export { clientAddressKey } from './client-address.ts';
export { normalizePhone, maskPhone } from './phone.ts';
export { phoneVerificationRules } from './phone-verification.ts';
export { SandboxSms, type SandboxSmsMessage, type SandboxSmsOptions } from './sandbox-sms.ts';
export {
  phoneVerificationPurposes,
  type PhoneVerificationPurpose,
  type SmsSender,
  type VerificationCodeMessage,
} from './sms-sender.ts';
export { parseResidentId, maskResidentId, maskRealName, ageInYears, type ResidentId } from './resident-id.ts';
export {
  accountClasses,
  type AccountClass,
  type AuthenticatedUser,
  type CreateUserCommand,
  type Identity,
  type IdentityOptions,
  type KycStatus,
  type LogInCommand,
  type LoginRateLimit,
  type PhoneVerificationCommand,
  type PhoneVerificationSent,
  type ResetPasswordCommand,
  type SessionTokens,
  type SignUpCommand,
  type SmsAddressLimit,
  type User,
  type UserStatus,
  type VerifyIdentityCommand,
} from './types.ts';
