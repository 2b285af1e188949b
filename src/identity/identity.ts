import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hash as argon2Hash, verify as argon2Verify, type Algorithm } from '@node-rs/argon2';
import { MilletError, batchedLoader, isUuid, newId } from '../core/index.ts';
import { loadMigrations, type Migration, type Queryable } from '../db/index.ts';
import { clientAddressKey } from './client-address.ts';
import {
  defaultLoginRateLimit,
  releaseAttempt,
  reserveAttempt,
  type Reservation,
} from './login-rate-limit.ts';
import { maskPhone, normalizePhone } from './phone.ts';
import {
  consumeCode,
  issueCode,
  newVerificationCode,
  phoneVerificationRules,
  withdrawCode,
  type CodeHasher,
} from './phone-verification.ts';
import { blindIndex, decryptField, derivePiiKeys, encryptField } from './pii-crypto.ts';
import {
  ageInYears,
  maskRealName,
  maskResidentId,
  normalizeRealName,
  parseResidentId,
} from './resident-id.ts';
import {
  generateDeviceToken,
  generateRefreshToken,
  hashDeviceToken,
  hashRefreshToken,
  looksLikeDeviceToken,
  looksLikeRefreshToken,
  signAccessToken,
  accessTokenVerifier,
} from './sessions.ts';
import { phoneVerificationPurposes } from './sms-sender.ts';
import {
  accountClasses,
  type AccountClass,
  type AuthenticatedUser,
  type Identity,
  type IdentityOptions,
  type KycStatus,
  type SessionTokens,
  type User,
  type UserStatus,
} from './types.ts';

/**
 * Identity verifications answered RESIDENT_ID_ALREADY_REGISTERED a user may have within the window
 * (a typo or two, not a search); then 429 RATE_LIMITED until the oldest leaves the window.
 */
export const KYC_TAKEN_ID_ANSWERS = 5;
export const KYC_TAKEN_ID_WINDOW_MS = 24 * 3_600_000;
export const identityMigrations: Migration[] = loadMigrations(
  'identity',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);

/** argon2id (Algorithm.Argon2id; a const enum, so spelled as its value) with the library defaults:
 * 19 MiB, 2 passes, 1 lane — the OWASP minimum recommendation. */
const ARGON2ID = 2 as Algorithm;
const MIN_PASSWORD_LENGTH = 8;
const MAX_PASSWORD_LENGTH = 128;

interface UserRow {
  id: string;
  phone_ciphertext: string;
  password_hash: string;
  created_at: Date;
  kyc_status: KycStatus;
  account_class: AccountClass | null;
  real_name_ciphertext: string | null;
  resident_id_ciphertext: string | null;
  resident_id_index: string | null;
  birth_date: string | Date | null;
  verified_at: Date | null;
}

const userColumns = `id, phone_ciphertext, password_hash, created_at, kyc_status, account_class,
  real_name_ciphertext, resident_id_ciphertext, resident_id_index, to_char(birth_date, 'YYYY-MM-DD') AS birth_date,
  verified_at`;

/** The associated data of each encrypted column: a ciphertext only decrypts in its own row and column. */
const aad = {
  phone: (userId: string) => `identity_users.phone:${userId}`,
  realName: (userId: string) => `identity_users.real_name:${userId}`,
  residentId: (userId: string) => `identity_users.resident_id:${userId}`,
};

/** `field` names the body field the password came in (new_password in a reset). */
function checkPassword(password: string, phone: string, field = 'password'): void {
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH || length > MAX_PASSWORD_LENGTH) {
    throw new MilletError(
      'PASSWORD_TOO_WEAK',
      `${field} must be ${MIN_PASSWORD_LENGTH}–${MAX_PASSWORD_LENGTH} characters`,
      { field, minLength: MIN_PASSWORD_LENGTH },
    );
  }
  if (phone.endsWith(password) || /^(.)\1*$/u.test(password)) {
    throw new MilletError(
      'PASSWORD_TOO_WEAK',
      `${field} must not be the phone number or one repeated character`,
      {
        field,
      },
    );
  }
}

function userNotFound(userId: string): MilletError {
  return new MilletError('USER_NOT_FOUND', `User ${userId} does not exist`, { userId });
}

function isUniqueViolation(error: unknown, constraintHint: string): boolean {
  const e = error as { code?: unknown; constraint?: unknown; message?: unknown; detail?: unknown } | null;
  if (e?.code !== '23505') return false;
  return [e.constraint, e.message, e.detail].some(
    (part) => typeof part === 'string' && part.includes(constraintHint),
  );
}

export function createIdentity(options: IdentityOptions): Identity {
  const { db, clock } = options;
  const keys = derivePiiKeys(options.encryptionKey);
  const verifyAccessToken = accessTokenVerifier(keys.jwt);
  const accessTtl = options.accessTokenTtlSeconds ?? 15 * 60;
  const refreshTtl = options.refreshTokenTtlSeconds ?? 30 * 86_400;
  const limits = { ...defaultLoginRateLimit, ...options.loginRateLimit };
  const smsAddressLimit = {
    maxPerAddress: phoneVerificationRules.maxPerAddress,
    addressWindowMs: phoneVerificationRules.addressWindowMs,
    ...options.smsAddressLimit,
  };
  const phoneIndex = (e164: string) => blindIndex(keys.index, 'phone', e164);
  const clientIndex = (ip: string) => blindIndex(keys.index, 'ip', clientAddressKey(ip));
  const ipLimitSubject = (ip: string | undefined) =>
    ip
      ? { subject: `ip:${clientIndex(ip)}`, max: limits.maxFailuresPerIp, windowMs: limits.windowMs }
      : undefined;
  /**
   * One phone tried from one address. Without an address (seeding, internal callers) every such
   * attempt at the phone shares one pair, as one unknown source.
   */
  const pairSubject = (index: string, ip: string | undefined) =>
    `pair:${blindIndex(keys.index, 'login-pair', `${index}\0${ip ? clientAddressKey(ip) : ''}`)}`;
  /** The owner got in from this pair's address: the per-phone ceiling does not refuse it. */
  const markKnown = (q: Queryable, subject: string, now: Date) =>
    q.query(
      `INSERT INTO identity_login_known_addresses AS k (subject, last_success_at) VALUES ($1, $2)
       ON CONFLICT (subject) DO UPDATE SET last_success_at = greatest(k.last_success_at, excluded.last_success_at)`,
      [subject, now],
    );
  const isKnown = async (subject: string, now: Date) =>
    (
      await db.query(
        'SELECT 1 FROM identity_login_known_addresses WHERE subject = $1 AND last_success_at > $2',
        [subject, new Date(now.getTime() - limits.knownAddressMs)],
      )
    ).rows.length > 0;
  /**
   * The hash of a device token that is valid for the account of this phone (not expired, not
   * revoked), else undefined: a token of another account, or a made-up one, is no token at all.
   */
  const validDeviceToken = async (token: string | undefined, index: string, now: Date) => {
    if (token === undefined || !looksLikeDeviceToken(token)) return undefined;
    const hash = hashDeviceToken(token);
    const found = await db.query(
      `SELECT 1 FROM identity_device_tokens d JOIN identity_users u ON u.id = d.user_id
       WHERE d.token_hash = $1 AND u.phone_index = $2 AND d.revoked_at IS NULL AND d.expires_at > $3`,
      [hash, index, now],
    );
    return found.rows.length > 0 ? hash : undefined;
  };
  const deviceSubject = (hash: string) => `device:${hash}`;
  /**
   * The device token for the client that just got in: the one it presented, valid again for the
   * whole lifetime from now, or a new one.
   */
  const grantDeviceToken = async (
    q: Queryable,
    userId: string,
    presented: { token: string; hash: string } | undefined,
    now: Date,
  ): Promise<string> => {
    const expiresAt = new Date(now.getTime() + limits.deviceTokenTtlMs);
    if (presented) {
      const kept = await q.query(
        `UPDATE identity_device_tokens SET expires_at = greatest(expires_at, $3)
         WHERE token_hash = $1 AND user_id = $2 AND revoked_at IS NULL`,
        [presented.hash, userId, expiresAt],
      );
      // Revoked meanwhile (its failures reached the limit): the client gets a new one.
      if (kept.rowCount > 0) return presented.token;
    }
    const token = generateDeviceToken();
    await q.query(
      `INSERT INTO identity_device_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
      [hashDeviceToken(token), userId, now, expiresAt],
    );
    return token;
  };
  /** Signature, issuer, type and expiry by the Clock; ids shaped as UUIDs. No session read. */
  const verifiedClaims = async (accessToken: string): Promise<AuthenticatedUser> => {
    const claims = verifyAccessToken(accessToken, clock.now());
    if (!isUuid(claims.sessionId) || !isUuid(claims.userId))
      throw new MilletError('UNAUTHENTICATED', 'The access token is not valid');
    return claims;
  };
  // Verifying a password against this when the phone is unknown keeps both answers equally slow.
  let dummyHash: Promise<string> | undefined;

  /**
   * The masked form of an encrypted field, remembered by ciphertext and context (the same pair
   * always opens to the same value), so reading a user does not decrypt three fields every time.
   * Only masked values are kept in memory, never plaintext.
   */
  const maskedFields = new Map<string, string>();
  function masked(ciphertext: string, context: string, mask: (plaintext: string) => string): string {
    const key = `${context}\u0000${ciphertext}`;
    const known = maskedFields.get(key);
    if (known !== undefined) return known;
    const value = mask(decryptField(keys.cipher, ciphertext, context));
    if (maskedFields.size >= 100_000) maskedFields.clear();
    maskedFields.set(key, value);
    return value;
  }

  function toUser(row: UserRow, at: Date): User {
    const birthDate = row.birth_date === null ? null : String(row.birth_date);
    const ageYears = birthDate ? ageInYears(birthDate, at) : null;
    return {
      id: row.id,
      phoneMasked: masked(row.phone_ciphertext, aad.phone(row.id), maskPhone),
      kycStatus: row.kyc_status,
      accountClass: row.account_class,
      realNameMasked: row.real_name_ciphertext
        ? masked(row.real_name_ciphertext, aad.realName(row.id), maskRealName)
        : null,
      residentIdMasked: row.resident_id_ciphertext
        ? masked(row.resident_id_ciphertext, aad.residentId(row.id), maskResidentId)
        : null,
      birthDate,
      ageYears,
      isAdult: ageYears !== null && ageYears >= 18,
      verifiedAt: row.verified_at,
      createdAt: row.created_at,
    };
  }

  /** Users and sessions read for many concurrent requests in one statement each. */
  const userLoader = batchedLoader(
    async (ids) =>
      (await db.query<UserRow>(`SELECT ${userColumns} FROM identity_users WHERE id = ANY($1::uuid[])`, [ids]))
        .rows,
    (row) => row.id,
  );
  const sessionLoader = batchedLoader(
    async (ids) =>
      (
        await db.query<{ id: string; user_id: string; revoked_at: Date | null }>(
          'SELECT id, user_id, revoked_at FROM identity_sessions WHERE id = ANY($1::uuid[])',
          [ids],
        )
      ).rows,
    (row) => row.id,
  );

  async function loadUser(q: Queryable, userId: string, forUpdate = false): Promise<UserRow> {
    if (!isUuid(userId)) throw userNotFound(userId);
    const result = await q.query<UserRow>(
      `SELECT ${userColumns} FROM identity_users WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
      [userId],
    );
    if (!result.rows[0]) throw userNotFound(userId);
    return result.rows[0];
  }

  async function issueTokens(
    q: Queryable,
    userId: string,
    sessionId: string,
    now: Date,
  ): Promise<SessionTokens> {
    const refreshToken = generateRefreshToken();
    const expiresAt = new Date(now.getTime() + refreshTtl * 1000);
    await q.query(
      `INSERT INTO identity_refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
      [hashRefreshToken(refreshToken), sessionId, now, expiresAt],
    );
    await q.query('UPDATE identity_sessions SET expires_at = $2 WHERE id = $1', [sessionId, expiresAt]);
    const accessToken = await signAccessToken(keys.jwt, { userId, sessionId }, now, accessTtl);
    return {
      accessToken,
      refreshToken,
      tokenType: 'Bearer',
      expiresIn: accessTtl,
      refreshExpiresIn: refreshTtl,
      userId,
      sessionId,
    };
  }

  const invalidRefresh = () =>
    new MilletError(
      'REFRESH_TOKEN_INVALID',
      'The refresh token is not valid, has expired or has been revoked; log in again',
    );

  const taken = () =>
    new MilletError(
      'PHONE_ALREADY_REGISTERED',
      'A user with this phone number already exists; log in instead',
      {
        field: 'phone',
      },
    );

  /** The user row for a phone number that is proven (or vouched for) and a password that passed. */
  async function insertUser(phone: string, password: string): Promise<User> {
    const index = phoneIndex(phone);
    if ((await db.query('SELECT 1 FROM identity_users WHERE phone_index = $1', [index])).rows.length > 0)
      throw taken();
    const passwordHash = await argon2Hash(password, { algorithm: ARGON2ID });
    const id = newId();
    const now = clock.now();
    const result = await db.query<UserRow>(
      `INSERT INTO identity_users (id, phone_ciphertext, phone_index, password_hash, created_at)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (phone_index) DO NOTHING
       RETURNING ${userColumns}`,
      [id, encryptField(keys.cipher, phone, aad.phone(id)), index, passwordHash, now],
    );
    if (!result.rows[0]) throw taken();
    return toUser(result.rows[0], now);
  }

  async function userIdByPhoneIndex(index: string): Promise<string | undefined> {
    return (await db.query<{ id: string }>('SELECT id FROM identity_users WHERE phone_index = $1', [index]))
      .rows[0]?.id;
  }

  const hashCode: CodeHasher = ({ id, purpose, phoneIndex: index, code }) =>
    blindIndex(keys.index, 'sms-code', `${id}\0${purpose}\0${index}\0${code}`);

  const identity: Identity = {
    async requestPhoneVerification(command) {
      const phone = normalizePhone(command.phone);
      if (!(phoneVerificationPurposes as readonly string[]).includes(command.purpose))
        throw new MilletError(
          'VALIDATION_FAILED',
          `purpose must be one of ${phoneVerificationPurposes.join(', ')}`,
          {
            field: 'purpose',
          },
        );
      // For sign-up, whether the phone has an account is never looked at: a registered number gets
      // a code like any other (sign-up then answers PHONE_ALREADY_REGISTERED to whoever holds the
      // phone). A reset code goes only to a number with an account, yet a number without one is
      // answered, limited and later refused exactly alike: a row is recorded for it too (so it
      // counts against the same limits and takes wrong tries the same way), holding the hash of a
      // decoy code that is never sent or shown, so no code can ever reset it.
      const index = phoneIndex(phone);
      const code = newVerificationCode();
      const isReset = command.purpose === 'password_reset';
      const sends = !isReset || (await userIdByPhoneIndex(index)) !== undefined;
      const { id } = await issueCode(
        db,
        hashCode,
        {
          phoneIndex: index,
          clientIndex: command.ip ? clientIndex(command.ip) : undefined,
          purpose: command.purpose,
          code: sends ? code : newVerificationCode(),
          now: clock.now(),
        },
        smsAddressLimit,
      );
      const send = () =>
        options.sms.sendVerificationCode({
          to: phone,
          purpose: command.purpose,
          code,
          expiresInMinutes: phoneVerificationRules.ttlMs / 60_000,
        });
      if (isReset) {
        // Not awaited: the gateway's latency, or its failure (SMS_UNAVAILABLE), would otherwise
        // tell a caller which numbers have an account. A text that never left is withdrawn, so
        // the owner may ask again at once.
        if (sends) void send().catch(() => withdrawCode(db, id).catch(() => undefined));
      } else {
        try {
          await send();
        } catch {
          // The gateway's reason is its own to log; the client learns only that it may retry, and
          // may at once: the code withdrawn counts against no limit.
          await withdrawCode(db, id).catch(() => undefined);
          throw new MilletError('SMS_UNAVAILABLE', 'The text message could not be sent; try again shortly');
        }
      }
      return {
        phoneMasked: maskPhone(phone),
        purpose: command.purpose,
        expiresInSeconds: phoneVerificationRules.ttlMs / 1000,
        resendAfterSeconds: phoneVerificationRules.resendAfterMs / 1000,
        ...(options.sandboxCodes ? { sandboxCode: code } : {}),
      };
    },

    async signUp(command) {
      const phone = normalizePhone(command.phone);
      checkPassword(command.password, phone);
      // "Already registered" tells whoever asks that the number has an account here. Only the
      // holder of the phone gets that far now (the code comes first), but the answer still counts
      // from one address as a failed log-in does, so a burst of look-ups meets the same
      // per-address limit; a sign-up that goes through takes its reservation back, so people
      // signing up behind one address (CGNAT) are not limited.
      const ipSubject = ipLimitSubject(command.ip);
      const reservation = await reserveAttempt(db, ipSubject ? [ipSubject] : [], clock.now(), 'attempts');
      try {
        // The code is spent before the account exists: a sign-up that then fails (the number taken)
        // needs a new code, which is what a second sign-up with it would be anyway.
        await consumeCode(db, hashCode, {
          phoneIndex: phoneIndex(phone),
          purpose: 'sign_up',
          code: command.verificationCode,
          now: clock.now(),
        });
        const user = await insertUser(phone, command.password);
        await releaseAttempt(db, reservation);
        if (command.ip) await markKnown(db, pairSubject(phoneIndex(phone), command.ip), clock.now());
        return user;
      } catch (error) {
        // Only "already registered" answers the question the limit guards. Should the release fail,
        // the first error is the one to report: a reservation left behind only counts one attempt.
        if (!(error instanceof MilletError && error.code === 'PHONE_ALREADY_REGISTERED'))
          await releaseAttempt(db, reservation).catch(() => undefined);
        throw error;
      }
    },

    async resetPassword(command) {
      const phone = normalizePhone(command.phone);
      // The password is judged before the code is spent: a weak one must not cost the owner a code.
      checkPassword(command.newPassword, phone, 'new_password');
      const index = phoneIndex(phone);
      await consumeCode(db, hashCode, {
        phoneIndex: index,
        purpose: 'password_reset',
        code: command.verificationCode,
        now: clock.now(),
      });
      // Only a guess matching the decoy of a number without an account (one in a million) or an
      // account gone since the code was sent gets here: answered as a wrong code, to say nothing.
      const userId = await userIdByPhoneIndex(index);
      if (userId === undefined)
        throw new MilletError(
          'PHONE_VERIFICATION_INVALID',
          'The verification code is wrong and may not be tried again; request a new one',
          { field: 'verification_code', attemptsRemaining: 0 },
        );
      const passwordHash = await argon2Hash(command.newPassword, { algorithm: ARGON2ID });
      const now = clock.now();
      return db.transaction(async (tx) => {
        await tx.query('UPDATE identity_users SET password_hash = $2 WHERE id = $1', [userId, passwordHash]);
        // Whoever knew the old password may hold a session: every one of them ends, and with it
        // its refresh token and access tokens.
        await tx.query(
          `UPDATE identity_sessions SET revoked_at = $2, revoked_reason = 'password_reset'
           WHERE user_id = $1 AND revoked_at IS NULL`,
          [userId, now],
        );
        // The phone's failed log-ins go too (the ceiling, and those from the owner's address): the
        // owner proved the phone, so no guesses at the old password lock them out of the new one.
        // A stranger's own address keeps its count.
        await releaseAttempt(tx, { ids: [] }, [`phone:${index}`, pairSubject(index, command.ip)]);
        if (command.ip) await markKnown(tx, pairSubject(index, command.ip), now);
        // A device that logged in with the old password may be the one that learnt it: no device
        // keeps its standing; this one gets a new token.
        await tx.query(
          'UPDATE identity_device_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL',
          [userId, now],
        );
        const sessionId = newId();
        await tx.query(
          'INSERT INTO identity_sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $3)',
          [sessionId, userId, now],
        );
        const tokens = await issueTokens(tx, userId, sessionId, now);
        return { ...tokens, deviceToken: await grantDeviceToken(tx, userId, undefined, now) };
      });
    },

    async createUser(command) {
      const phone = normalizePhone(command.phone);
      checkPassword(command.password, phone);
      return insertUser(phone, command.password);
    },

    async logIn(command) {
      const now = clock.now();
      let phone: string | undefined;
      try {
        phone = normalizePhone(command.phone);
      } catch {
        phone = undefined;
      }
      const index = phone ? phoneIndex(phone) : undefined;
      const pair = index === undefined ? undefined : pairSubject(index, command.ip);
      // Failures count per phone and address, so a stranger who knows the number locks only their
      // own address out of it. The phone's ceiling (all addresses together, over a day) bounds
      // guessing from many addresses; it does not refuse an address the owner logged in from, and
      // neither does the address's own limit (it guards against one address trying many phones,
      // which the pair's limit still bounds here), so strangers failing elsewhere or behind the
      // same carrier address cannot lock the owner out where they usually log in. Those failures
      // are still recorded against both.
      const known = pair !== undefined && command.ip !== undefined && (await isKnown(pair, now));
      const ipSubject = ipLimitSubject(command.ip);
      // A valid device token proves this client got in to the account before (OWASP "device
      // cookies"): the attempt counts against the token alone, so strangers who pushed the phone
      // past its ceiling, or share the address, cannot lock the owner out of their own device,
      // whatever address it comes from today. Its failures are still recorded against the rest.
      // Past the token's own limit the token is revoked and the attempt is judged as one without.
      let deviceHash =
        index === undefined ? undefined : await validDeviceToken(command.deviceToken, index, now);
      const deviceSubjects = (hash: string) => [
        {
          subject: deviceSubject(hash),
          max: limits.maxFailuresPerDeviceToken,
          windowMs: limits.deviceTokenWindowMs,
        },
        { subject: pair!, max: null, windowMs: limits.windowMs },
        { subject: `phone:${index!}`, max: null, windowMs: limits.phoneWindowMs },
        ...(ipSubject ? [{ ...ipSubject, max: null }] : []),
      ];
      const subjects = [
        ...(index !== undefined
          ? [
              { subject: pair!, max: limits.maxFailuresPerPhoneAndIp, windowMs: limits.windowMs },
              {
                subject: `phone:${index}`,
                max: known ? null : limits.maxFailuresPerPhone,
                windowMs: limits.phoneWindowMs,
              },
            ]
          : []),
        ...(ipSubject ? [{ ...ipSubject, max: known ? null : ipSubject.max }] : []),
      ];
      // Reserved before the password is checked, the same way for registered and unknown phones:
      // the attempt counts as a failure while it is judged, so guesses sent together cannot all
      // pass a count that none of them has added to yet.
      let reservation: Reservation | undefined;
      if (deviceHash !== undefined) {
        try {
          reservation = await reserveAttempt(db, deviceSubjects(deviceHash), now);
        } catch (error) {
          if (!(error instanceof MilletError && error.code === 'RATE_LIMITED')) throw error;
          await db.query(
            'UPDATE identity_device_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL',
            [deviceHash, now],
          );
          deviceHash = undefined;
        }
      }
      reservation ??= await reserveAttempt(db, subjects, now);

      const row =
        index !== undefined
          ? (
              await db.query<{ id: string; password_hash: string }>(
                'SELECT id, password_hash FROM identity_users WHERE phone_index = $1',
                [index],
              )
            ).rows[0]
          : undefined;
      dummyHash ??= argon2Hash('millet-dummy-password', { algorithm: ARGON2ID });
      const ok = await argon2Verify(row?.password_hash ?? (await dummyHash), command.password);
      if (!row || !ok) throw new MilletError('INVALID_CREDENTIALS', 'The phone number or password is wrong');
      return db.transaction(async (tx) => {
        // The pair's earlier failures (the owner's own typing) go; the phone's and the address's
        // stay: the owner getting in must not give strangers a fresh allowance.
        await releaseAttempt(tx, reservation, [
          pair!,
          ...(deviceHash === undefined ? [] : [deviceSubject(deviceHash)]),
        ]);
        // A password reset may have committed while the old password was being checked: the
        // session must not outlive the reset that ended every session. Read under a share lock,
        // so a reset still running waits for this session and then revokes it with the rest.
        const current = await tx.query<{ password_hash: string }>(
          'SELECT password_hash FROM identity_users WHERE id = $1 FOR SHARE',
          [row.id],
        );
        if (current.rows[0]?.password_hash !== row.password_hash)
          throw new MilletError('INVALID_CREDENTIALS', 'The phone number or password is wrong');
        if (command.ip) await markKnown(tx, pair!, now);
        const sessionId = newId();
        await tx.query(
          'INSERT INTO identity_sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $3)',
          [sessionId, row.id, now],
        );
        const tokens = await issueTokens(tx, row.id, sessionId, now);
        const presented =
          deviceHash === undefined ? undefined : { token: command.deviceToken!, hash: deviceHash };
        return { ...tokens, deviceToken: await grantDeviceToken(tx, row.id, presented, now) };
      });
    },

    async refresh(refreshToken) {
      if (!looksLikeRefreshToken(refreshToken)) throw invalidRefresh();
      const now = clock.now();
      const outcome = await db.transaction(async (tx) => {
        const result = await tx.query<{
          session_id: string;
          user_id: string;
          expires_at: Date;
          rotated_at: Date | null;
          revoked_at: Date | null;
        }>(
          `SELECT t.session_id, s.user_id, t.expires_at, t.rotated_at, s.revoked_at
           FROM identity_refresh_tokens t JOIN identity_sessions s ON s.id = t.session_id
           WHERE t.token_hash = $1 FOR UPDATE`,
          [hashRefreshToken(refreshToken)],
        );
        const token = result.rows[0];
        if (!token || token.revoked_at) return { kind: 'invalid' as const };
        if (token.rotated_at) {
          // A rotated token came back: either it was stolen or the thief already used it. The
          // whole family goes, so neither copy keeps the session.
          await tx.query(
            `UPDATE identity_sessions SET revoked_at = $2, revoked_reason = 'refresh_token_reused' WHERE id = $1`,
            [token.session_id, now],
          );
          return { kind: 'reused' as const };
        }
        if (token.expires_at.getTime() <= now.getTime()) return { kind: 'invalid' as const };
        await tx.query('UPDATE identity_refresh_tokens SET rotated_at = $2 WHERE token_hash = $1', [
          hashRefreshToken(refreshToken),
          now,
        ]);
        return { kind: 'ok' as const, tokens: await issueTokens(tx, token.user_id, token.session_id, now) };
      });
      if (outcome.kind === 'reused')
        throw new MilletError(
          'REFRESH_TOKEN_REUSED',
          'This refresh token was already used; the session has been revoked for safety. Log in again',
        );
      if (outcome.kind === 'invalid') throw invalidRefresh();
      return outcome.tokens;
    },

    async logOut(refreshToken) {
      if (!looksLikeRefreshToken(refreshToken)) throw invalidRefresh();
      const result = await db.query<{ id: string }>(
        `UPDATE identity_sessions SET revoked_at = coalesce(revoked_at, $2), revoked_reason = coalesce(revoked_reason, 'logout')
         WHERE id = (SELECT session_id FROM identity_refresh_tokens WHERE token_hash = $1) RETURNING id`,
        [hashRefreshToken(refreshToken), clock.now()],
      );
      if (result.rows.length === 0) throw invalidRefresh();
    },

    async revokeSession(sessionId) {
      if (!isUuid(sessionId)) return;
      await db.query(
        `UPDATE identity_sessions SET revoked_at = coalesce(revoked_at, $2), revoked_reason = coalesce(revoked_reason, 'revoked')
         WHERE id = $1`,
        [sessionId, clock.now()],
      );
    },

    async authenticate(accessToken) {
      const now = clock.now();
      const claims = verifyAccessToken(accessToken, now);
      if (!isUuid(claims.sessionId) || !isUuid(claims.userId))
        throw new MilletError('UNAUTHENTICATED', 'The access token is not valid');
      // Every request reads its session (so a log-out stops its tokens at once), batched with the
      // requests arriving together: one statement for many.
      const session = await sessionLoader.load(claims.sessionId);
      if (!session || session.user_id !== claims.userId || session.revoked_at)
        throw new MilletError('UNAUTHENTICATED', 'The session has ended; log in again');
      return claims;
    },

    verifyAccessToken: verifiedClaims,

    async verifyIdentity(userId, command) {
      const now = clock.now();
      const realName = normalizeRealName(command.realName);
      const residentId = parseResidentId(command.residentId, now);
      const accountClass = command.accountClass ?? 'I';
      if (!(accountClasses as readonly string[]).includes(accountClass)) {
        throw new MilletError(
          'VALIDATION_FAILED',
          `account_class must be one of ${accountClasses.join(', ')}`,
          {
            field: 'accountClass',
          },
        );
      }
      const index = blindIndex(keys.index, 'resident_id', residentId.value);
      const idTaken = () =>
        new MilletError(
          'RESIDENT_ID_ALREADY_REGISTERED',
          'This resident ID is already verified for another user',
          {
            field: 'residentId',
          },
        );
      // Each answer that an ID is verified for another user says whether that person is a
      // customer: counted per user, or one account could look up ID numbers one after another.
      const reservation = await reserveAttempt(
        db,
        [{ subject: `kyc:${userId}`, max: KYC_TAKEN_ID_ANSWERS, windowMs: KYC_TAKEN_ID_WINDOW_MS }],
        now,
        'identity verifications naming a resident ID verified for another user',
      );
      try {
        const row = await db.transaction(async (tx) => {
          const user = await loadUser(tx, userId, true);
          if (user.kyc_status === 'verified') {
            const sameName =
              user.real_name_ciphertext !== null &&
              decryptField(keys.cipher, user.real_name_ciphertext, aad.realName(user.id)) === realName;
            if (user.resident_id_index !== index || !sameName) {
              throw new MilletError(
                'IDENTITY_ALREADY_VERIFIED',
                'This user is already verified with another identity; it cannot be changed',
              );
            }
            // The same identity again: only the account class may change.
            const updated = await tx.query<UserRow>(
              `UPDATE identity_users SET account_class = $2 WHERE id = $1 RETURNING ${userColumns}`,
              [user.id, accountClass],
            );
            return updated.rows[0]!;
          }
          const other = await tx.query(
            'SELECT 1 FROM identity_users WHERE resident_id_index = $1 AND id <> $2',
            [index, user.id],
          );
          if (other.rows.length > 0) throw idTaken();
          const updated = await tx.query<UserRow>(
            `UPDATE identity_users SET kyc_status = 'verified', account_class = $2, real_name_ciphertext = $3,
               resident_id_ciphertext = $4, resident_id_index = $5, birth_date = $6::date, verified_at = $7
             WHERE id = $1 RETURNING ${userColumns}`,
            [
              user.id,
              accountClass,
              encryptField(keys.cipher, realName, aad.realName(user.id)),
              encryptField(keys.cipher, residentId.value, aad.residentId(user.id)),
              index,
              residentId.birthDate,
              now,
            ],
          );
          return updated.rows[0]!;
        });
        await releaseAttempt(db, reservation);
        return toUser(row, now);
      } catch (caught) {
        // Two users verifying the same ID at once: the unique index lets one through.
        const error = isUniqueViolation(caught, 'resident_id_index') ? idTaken() : caught;
        if (!(error instanceof MilletError && error.code === 'RESIDENT_ID_ALREADY_REGISTERED'))
          await releaseAttempt(db, reservation);
        throw error;
      }
    },

    async getUser(userId, at) {
      if (!isUuid(userId)) throw userNotFound(userId);
      const row = await userLoader.load(userId);
      if (!row) throw userNotFound(userId);
      return toUser(row, at ?? clock.now());
    },

    async getUserStatuses(userIds, at) {
      const valid = [...new Set(userIds)].filter(isUuid);
      const found = new Map<string, UserStatus>();
      if (valid.length === 0) return found;
      const when = at ?? clock.now();
      const result = await db.query<{
        id: string;
        kyc_status: UserStatus['kycStatus'];
        account_class: UserStatus['accountClass'];
        birth_date: string | null;
      }>(
        `SELECT id, kyc_status, account_class, to_char(birth_date, 'YYYY-MM-DD') AS birth_date
         FROM identity_users WHERE id = ANY($1::uuid[])`,
        [valid],
      );
      for (const r of result.rows) {
        const age = r.birth_date ? ageInYears(r.birth_date, when) : null;
        found.set(r.id, {
          id: r.id,
          kycStatus: r.kyc_status,
          accountClass: r.account_class,
          isAdult: age !== null && age >= 18,
        });
      }
      return found;
    },

    async isAdult(userId, at) {
      return (await identity.getUser(userId, at)).isAdult;
    },

    keyedDigest: (value) => blindIndex(keys.index, 'digest', value),

    async pruneLoginFailures() {
      const now = clock.now().getTime();
      // The phone's ceiling counts over its own (longer) window.
      const pruned = (
        await db.query(
          `DELETE FROM identity_login_failures
           WHERE failed_at <= CASE WHEN subject LIKE 'phone:%' THEN $2::timestamptz
                                   WHEN subject LIKE 'device:%' THEN $3::timestamptz
                                   WHEN subject LIKE 'kyc:%' THEN $4::timestamptz
                                   ELSE $1::timestamptz END`,
          [
            new Date(now - limits.windowMs),
            new Date(now - limits.phoneWindowMs),
            new Date(now - limits.deviceTokenWindowMs),
            new Date(now - KYC_TAKEN_ID_WINDOW_MS),
          ],
        )
      ).rowCount;
      // A revoked token's row goes too: a token not found is as invalid as a revoked one.
      await db.query('DELETE FROM identity_device_tokens WHERE expires_at <= $1 OR revoked_at IS NOT NULL', [
        new Date(now),
      ]);
      await db.query('DELETE FROM identity_login_known_addresses WHERE last_success_at <= $1', [
        new Date(now - limits.knownAddressMs),
      ]);
      // Deleting a gate never loosens the limit: the failures are the count, the gate only orders
      // the attempts, and an attempt that finds it gone inserts it again.
      await db.query(
        `DELETE FROM identity_rate_limit_gates g
         WHERE NOT EXISTS (SELECT 1 FROM identity_login_failures f WHERE f.subject = g.subject)`,
      );
      return pruned;
    },

    async prunePhoneVerifications() {
      const cutoff = new Date(clock.now().getTime() - phoneVerificationRules.dayMs);
      return (await db.query('DELETE FROM identity_phone_verifications WHERE sent_at <= $1', [cutoff]))
        .rowCount;
    },
  };
  return identity;
}
