import type { Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import type { PhoneVerificationPurpose, SmsSender } from './sms-sender.ts';

/** Payment-account classes after the PBoC 2016 rules; the wallet enforces their limits. */
export const accountClasses = ['I', 'II', 'III'] as const;
export type AccountClass = (typeof accountClasses)[number];

export type KycStatus = 'none' | 'verified';

/** A user as other modules and the API see one: PII only masked, never in the clear. */
/** What batch jobs need to know about a user: no personal data. */
export interface UserStatus {
  id: string;
  kycStatus: KycStatus;
  accountClass: AccountClass | null;
  /** 18 or over at the instant asked about; false while unverified. */
  isAdult: boolean;
}

export interface User {
  id: string;
  /** `138****5678` for a mainland number. */
  phoneMasked: string;
  kycStatus: KycStatus;
  /** Set by identity verification; null until then. */
  accountClass: AccountClass | null;
  /** `张*`; null until verified. */
  realNameMasked: string | null;
  /** `1101**********1234`; null until verified. */
  residentIdMasked: string | null;
  /** YYYY-MM-DD, from the resident ID; null until verified. */
  birthDate: string | null;
  /** Completed years at the business date of the instant asked about; null until verified. */
  ageYears: number | null;
  /** ageYears ≥ 18; false while unverified (credit products refuse both). */
  isAdult: boolean;
  verifiedAt: Date | null;
  createdAt: Date;
}

export interface SignUpCommand {
  /** E.164, or a bare 11-digit mainland mobile number (+86 is assumed). */
  phone: string;
  /** At least 8 characters. */
  password: string;
  /** The 6-digit code sent to the phone by requestPhoneVerification (purpose 'sign_up'). */
  verificationCode: string;
  /** The client's address: answers that the phone is already registered count against its limit. */
  ip?: string;
}

export interface ResetPasswordCommand {
  /** E.164, or a bare 11-digit mainland mobile number (+86 is assumed). */
  phone: string;
  /** The 6-digit code sent by requestPhoneVerification (purpose 'password_reset'). */
  verificationCode: string;
  /** The same rules as sign-up's password. */
  newPassword: string;
  /** The client's address: its failed log-ins at this phone are cleared and it becomes known. */
  ip?: string;
}

/** A user whose phone number the caller has already proven (seeding, benchmarks): no SMS code. */
export interface CreateUserCommand {
  phone: string;
  password: string;
}

export interface PhoneVerificationCommand {
  phone: string;
  purpose: PhoneVerificationPurpose;
  /** The client's address: codes asked for from one address are limited, whatever the phones. */
  ip?: string;
}

export interface PhoneVerificationSent {
  /** `138****5678` */
  phoneMasked: string;
  purpose: PhoneVerificationPurpose;
  /** Seconds the code is valid: 300. */
  expiresInSeconds: number;
  /** Seconds before another code may be sent to this phone from this address: 60. */
  resendAfterSeconds: number;
  /** The code itself, only when the identity was created with `sandboxCodes` (development). */
  sandboxCode?: string;
}

export interface LogInCommand {
  phone: string;
  password: string;
  /** The client's address, for the per-IP login rate limit. */
  ip?: string;
  /**
   * The device token a log-in or password reset at this account gave this client. A valid one
   * counts failures against itself alone: neither the phone's ceiling nor an address's limits
   * refuse the attempt. Anything else (unknown, expired, revoked, another account's) is ignored.
   */
  deviceToken?: string;
}

export interface SessionTokens {
  /** HS256 JWT: `sub` = user id, `sid` = session id, `typ` = 'access'. */
  accessToken: string;
  /** Opaque, single use: each refresh returns a new one. */
  refreshToken: string;
  tokenType: 'Bearer';
  /** Seconds until the access token expires. */
  expiresIn: number;
  /** Seconds until the refresh token expires. */
  refreshExpiresIn: number;
  userId: string;
  sessionId: string;
  /**
   * Log-in and password reset only: the device token to present with this client's later log-ins
   * (the one presented, when it was valid; a new one otherwise).
   */
  deviceToken?: string;
}

/** Who an access token belongs to. */
export interface AuthenticatedUser {
  userId: string;
  sessionId: string;
}

export interface VerifyIdentityCommand {
  realName: string;
  /** 18 characters: 17 digits and an ISO 7064 MOD 11-2 check character (0–9 or X). */
  residentId: string;
  /** The class requested; 'I' when not given. */
  accountClass?: AccountClass;
}

export interface LoginRateLimit {
  /** Failed log-ins allowed per phone number from one client address within windowMs: 5. */
  maxFailuresPerPhoneAndIp: number;
  /** Failed log-ins allowed per client address, whatever the phones, within windowMs: 20. */
  maxFailuresPerIp: number;
  /** 15 minutes. */
  windowMs: number;
  /**
   * The ceiling: failed log-ins allowed per phone number from every address together within
   * phoneWindowMs (100 in 24 hours). Addresses the user logged in from within knownAddressMs are
   * not refused by it.
   */
  maxFailuresPerPhone: number;
  phoneWindowMs: number;
  /** How long an address stays the user's own after a log-in, sign-up or reset from it: 30 days. */
  knownAddressMs: number;
  /**
   * Failed log-ins allowed with one device token within deviceTokenWindowMs (10 in 24 hours); the
   * next attempt revokes the token and is judged as one without a token.
   */
  maxFailuresPerDeviceToken: number;
  deviceTokenWindowMs: number;
  /** How long a device token stays valid after the last log-in with it: 180 days. */
  deviceTokenTtlMs: number;
}

/** How many SMS codes one client address may ask for, whatever the phones. */
export interface SmsAddressLimit {
  /** Codes per address within the window: 20 by default. */
  maxPerAddress: number;
  /** One hour by default. */
  addressWindowMs: number;
}

export interface IdentityOptions {
  db: Database;
  clock: Clock;
  /** 32 bytes (MILLET_PII_KEY); the PII cipher, blind-index and JWT keys are derived from it. */
  encryptionKey: Uint8Array;
  /** Access-token lifetime; 900 s (15 min) by default. */
  accessTokenTtlSeconds?: number;
  /** Refresh-token (session) lifetime; 30 days by default. */
  refreshTokenTtlSeconds?: number;
  loginRateLimit?: Partial<LoginRateLimit>;
  /** The per-address limit on SMS codes; phoneVerificationRules' (20 an hour) by default. */
  smsAddressLimit?: Partial<SmsAddressLimit>;
  /** Where verification codes go (the SandboxSms until a real SMS gateway is configured). */
  sms: SmsSender;
  /**
   * Answer requestPhoneVerification with the code it sent (`sandboxCode`), so development, tests
   * and the demo can sign up without a phone. Never in production: the code is the proof.
   */
  sandboxCodes?: boolean;
}

/** The identity module's public API: users, sessions and identity verification. */
export interface Identity {
  /**
   * Sends a 6-digit code to the phone by SMS (valid 5 minutes, single use, 5 wrong tries). At most
   * one per phone and client address (`ip`) every 60 s and 5 per rolling 24 hours, 20 per phone per
   * rolling 24 hours whatever the addresses, and 20 per client address per rolling hour, else
   * RATE_LIMITED with retryAfterSeconds.
   * Answers the same whether or not the phone has an account: for sign-up it never looks; a
   * password-reset code is only sent to a phone with an account, but the answer, the limits and
   * the later refusals are the same for one without.
   */
  requestPhoneVerification(command: PhoneVerificationCommand): Promise<PhoneVerificationSent>;
  /** Sign-up proven by the SMS code (PHONE_VERIFICATION_INVALID / PHONE_VERIFICATION_EXPIRED). */
  signUp(command: SignUpCommand): Promise<User>;
  /**
   * "Forgot password": the SMS code (purpose 'password_reset') proves the phone. Sets the new
   * password, revokes every session and device token of the user, clears the phone's failed
   * log-ins and opens a new session (with a new device token). A wrong, spent or expired code, or a phone without an account, answers as sign-up's
   * code check does (PHONE_VERIFICATION_INVALID / _EXPIRED); a weak password PASSWORD_TOO_WEAK
   * before the code is spent.
   */
  resetPassword(command: ResetPasswordCommand): Promise<SessionTokens>;
  /**
   * A user without an SMS code: the caller vouches for the phone number. For demo seeding and
   * benchmarks only; nothing reachable over HTTP calls it.
   */
  createUser(command: CreateUserCommand): Promise<User>;
  logIn(command: LogInCommand): Promise<SessionTokens>;
  /** Rotates the refresh token; a rotated token used again revokes the whole session. */
  refresh(refreshToken: string): Promise<SessionTokens>;
  /** Revokes the session the refresh token belongs to; revoking twice is harmless. */
  logOut(refreshToken: string): Promise<void>;
  /** Revokes one session by id (the access token's `sid`). */
  revokeSession(sessionId: string): Promise<void>;
  /** Checks an access token (signature, expiry by the Clock, session not revoked). */
  authenticate(accessToken: string): Promise<AuthenticatedUser>;
  /**
   * Checks an access token's signature and expiry only, without reading the session: no database
   * round trip, so a revoked session's tokens pass until they expire (at most 15 minutes). For hot
   * paths (flash-sale attempts) that must not touch SQL.
   */
  verifyAccessToken(accessToken: string): Promise<AuthenticatedUser>;
  /** KYC: name + resident ID; sets birth date and account class. */
  verifyIdentity(userId: string, command: VerifyIdentityCommand): Promise<User>;
  /** `at` dates ageYears/isAdult (the Clock's now by default). */
  getUser(userId: string, at?: Date): Promise<User>;
  /**
   * Many users' verification status in one query, for batch jobs (the monthly score refresh):
   * KYC status, account class and whether 18 or over at `at`; no personal data is decrypted.
   * Unknown ids are absent from the map.
   */
  getUserStatuses(userIds: readonly string[], at?: Date): Promise<Map<string, UserStatus>>;
  /** Whether a verified user is 18 or over at the business date of `at`; false if unverified. */
  isAdult(userId: string, at?: Date): Promise<boolean>;
  /**
   * A keyed HMAC-SHA256 (hex) of a value: lets other code compare personal data or secrets (the
   * idempotency fingerprint of a sign-up) without storing anything a fast hash would give back.
   */
  keyedDigest(value: string): string;
  /**
   * Deletes failed-log-in records older than their rate-limit window (and addresses no longer
   * known); returns how many failures. A job.
   */
  pruneLoginFailures(): Promise<number>;
  /** Deletes SMS codes sent more than a day ago (expired and out of the daily count). A job. */
  prunePhoneVerifications(): Promise<number>;
}
