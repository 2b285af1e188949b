import { randomInt, timingSafeEqual } from 'node:crypto';
import { MilletError, newId } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import type { PhoneVerificationPurpose } from './sms-sender.ts';
import type { SmsAddressLimit } from './types.ts';

/** The rules of SMS codes, as mainland wallets apply them. */
export const phoneVerificationRules = {
  codeLength: 6,
  ttlMs: 5 * 60_000,
  /** Wrong codes a code survives; the next try finds it spent, even with the right code. */
  maxWrongTries: 5,
  /** One code per phone and client address every minute. */
  resendAfterMs: 60_000,
  /**
   * Codes to one phone from one client address in any 24 hours: the bulk of the allowance is per
   * (phone, address), so strangers texting a number from elsewhere do not spend its owner's codes.
   */
  maxPerDayFromAddress: 5,
  /**
   * Codes to one phone in any 24 hours, whatever the addresses: SMS costs money and a flood of texts
   * is harassment, so there is still a ceiling; four times the per-address allowance, so spending it
   * takes four addresses that each also count against their own hourly limit.
   */
  maxPerDay: 20,
  dayMs: 24 * 60 * 60_000,
  /**
   * Codes per client address in any hour, whatever the phones: each number's own limits leave one
   * client free to text many numbers (SMS toll fraud, paid per message).
   */
  maxPerAddress: 20,
  addressWindowMs: 60 * 60_000,
} as const;

/** A keyed hash of a code, bound to its row, purpose and phone: the table alone cannot check a guess. */
export type CodeHasher = (parts: {
  id: string;
  purpose: PhoneVerificationPurpose;
  phoneIndex: string;
  code: string;
}) => string;

export function newVerificationCode(): string {
  return String(randomInt(0, 10 ** phoneVerificationRules.codeLength)).padStart(
    phoneVerificationRules.codeLength,
    '0',
  );
}

/**
 * Records a new code for the phone unless that would pass a limit (RATE_LIMITED with
 * retryAfterSeconds): per phone and client address (`clientIndex`; callers giving none share one
 * allowance) one code per 60 s and five per rolling 24 hours; per phone twenty per rolling 24 hours
 * whatever the addresses; per client address `maxPerAddress` per rolling `addressWindowMs`. The
 * phone's and the address's rows in identity_rate_limit_gates are locked (in subject order, so two
 * requests never wait on each other crosswise) while counting and inserting, so requests arriving
 * together, in one process or many, see each other: no limit lets one more through. The latest
 * code supersedes earlier ones, even one asked for from another address: it went to the same phone.
 */
export async function issueCode(
  db: Database,
  hash: CodeHasher,
  request: {
    phoneIndex: string;
    /** The blind index of the client's address; no per-address limit without one. */
    clientIndex?: string | undefined;
    purpose: PhoneVerificationPurpose;
    code: string;
    now: Date;
  },
  addressLimit: SmsAddressLimit = phoneVerificationRules,
): Promise<{ id: string }> {
  const { phoneIndex, clientIndex, purpose, code, now } = request;
  const rules = phoneVerificationRules;
  const id = newId();
  const outcome = await db.transaction(async (tx) => {
    const gates = [`sms:${phoneIndex}`, ...(clientIndex === undefined ? [] : [`sms-ip:${clientIndex}`])];
    await tx.query(
      `INSERT INTO identity_rate_limit_gates AS g (subject)
       SELECT subject FROM unnest($1::text[]) AS s (subject) ORDER BY subject
       ON CONFLICT (subject) DO UPDATE SET subject = g.subject`,
      [gates],
    );
    if (clientIndex !== undefined) {
      const fromAddress = await recentSends(
        tx,
        'client_index',
        clientIndex,
        new Date(now.getTime() - addressLimit.addressWindowMs),
        addressLimit.maxPerAddress,
      );
      // The address's limit lifts when the oldest of its last `maxPerAddress` leaves the window.
      if (fromAddress.length >= addressLimit.maxPerAddress)
        return {
          waitMs: fromAddress[addressLimit.maxPerAddress - 1]! + addressLimit.addressWindowMs - now.getTime(),
          limited: 'address' as const,
        };
    }
    // Every send to the phone within the day, unless past its ceiling: then the ceiling refuses
    // anyway, and otherwise the sends from this address are among them.
    const toPhone = (
      await tx.query<{ sent_at: Date; client_index: string | null }>(
        `SELECT sent_at, client_index FROM identity_phone_verifications
         WHERE phone_index = $1 AND sent_at > $2 ORDER BY sent_at DESC LIMIT $3`,
        [phoneIndex, new Date(now.getTime() - rules.dayMs), rules.maxPerDay],
      )
    ).rows.map((r) => ({ at: r.sent_at.getTime(), from: r.client_index }));
    const sent = toPhone.map((s) => s.at);
    const fromHere = toPhone.filter((s) => s.from === (clientIndex ?? null)).map((s) => s.at);
    const waits = [
      fromHere.length > 0 ? fromHere[0]! + rules.resendAfterMs - now.getTime() : 0,
      // Each daily limit lifts when the oldest of the sends it counts leaves the 24 hours.
      fromHere.length >= rules.maxPerDayFromAddress
        ? fromHere[rules.maxPerDayFromAddress - 1]! + rules.dayMs - now.getTime()
        : 0,
      sent.length >= rules.maxPerDay ? sent[rules.maxPerDay - 1]! + rules.dayMs - now.getTime() : 0,
    ];
    const wait = Math.max(...waits);
    if (wait > 0) return { waitMs: wait, limited: 'phone' as const };
    await tx.query(
      `INSERT INTO identity_phone_verifications
         (id, phone_index, client_index, purpose, code_hash, sent_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        id,
        phoneIndex,
        clientIndex ?? null,
        purpose,
        hash({ id, purpose, phoneIndex, code }),
        now,
        new Date(now.getTime() + rules.ttlMs),
      ],
    );
    return undefined;
  });
  if (outcome) {
    const retryAfterSeconds = Math.max(1, Math.ceil(outcome.waitMs / 1000));
    throw new MilletError(
      'RATE_LIMITED',
      outcome.limited === 'phone'
        ? `Too many codes sent to this phone; try again in ${retryAfterSeconds} seconds`
        : `Too many codes requested from this address; try again in ${retryAfterSeconds} seconds`,
      { retryAfterSeconds },
    );
  }
  return { id };
}

/** Takes back a code whose SMS never left: it neither works nor counts against the limits. */
export async function withdrawCode(db: Database, id: string): Promise<void> {
  await db.query('DELETE FROM identity_phone_verifications WHERE id = $1', [id]);
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Spends the phone's live code if `code` is it. A wrong code counts against the code's tries and
 * the count commits even though the caller then refuses; the row lock serialises attempts arriving
 * together, so a code is spent once and never gets more than five wrong tries.
 * Throws PHONE_VERIFICATION_INVALID (no code, spent, out of tries, wrong) or _EXPIRED.
 */
export async function consumeCode(
  db: Database,
  hash: CodeHasher,
  attempt: { phoneIndex: string; purpose: PhoneVerificationPurpose; code: string; now: Date },
): Promise<void> {
  const { phoneIndex, purpose, code, now } = attempt;
  const rules = phoneVerificationRules;
  const invalid = (message: string, attemptsRemaining?: number) =>
    new MilletError('PHONE_VERIFICATION_INVALID', message, {
      field: 'verification_code',
      ...(attemptsRemaining === undefined ? {} : { attemptsRemaining }),
    });
  if (!/^\d+$/.test(code) || code.length !== rules.codeLength)
    throw invalid(`verification_code must be the ${rules.codeLength}-digit code sent by SMS`);
  const outcome = await db.transaction(async (tx) => {
    const row = (
      await tx.query<{
        id: string;
        code_hash: string;
        expires_at: Date;
        failed_attempts: number;
        used_at: Date | null;
      }>(
        `SELECT id, code_hash, expires_at, failed_attempts, used_at FROM identity_phone_verifications
         WHERE phone_index = $1 AND purpose = $2 ORDER BY sent_at DESC, id LIMIT 1 FOR UPDATE`,
        [phoneIndex, purpose],
      )
    ).rows[0];
    if (!row || row.used_at || row.failed_attempts >= rules.maxWrongTries) return { kind: 'none' as const };
    if (row.expires_at.getTime() <= now.getTime()) return { kind: 'expired' as const };
    if (sameHash(row.code_hash, hash({ id: row.id, purpose, phoneIndex, code }))) {
      await tx.query('UPDATE identity_phone_verifications SET used_at = $2 WHERE id = $1', [row.id, now]);
      return { kind: 'ok' as const };
    }
    await tx.query(
      'UPDATE identity_phone_verifications SET failed_attempts = failed_attempts + 1 WHERE id = $1',
      [row.id],
    );
    return { kind: 'wrong' as const, attemptsRemaining: rules.maxWrongTries - row.failed_attempts - 1 };
  });
  switch (outcome.kind) {
    case 'ok':
      return;
    case 'expired':
      throw new MilletError(
        'PHONE_VERIFICATION_EXPIRED',
        'The verification code has expired; request a new one',
        { field: 'verification_code' },
      );
    case 'none':
      throw invalid('No verification code is waiting for this phone; request a new one', 0);
    case 'wrong':
      throw invalid(
        outcome.attemptsRemaining > 0
          ? 'The verification code is wrong'
          : 'The verification code is wrong and may not be tried again; request a new one',
        outcome.attemptsRemaining,
      );
  }
}

/** When the last `limit` codes to one phone or client address since `since` were sent, newest first (ms). */
async function recentSends(
  q: Queryable,
  column: 'phone_index' | 'client_index',
  value: string,
  since: Date,
  limit: number,
): Promise<number[]> {
  const result = await q.query<{ sent_at: Date }>(
    `SELECT sent_at FROM identity_phone_verifications
     WHERE ${column} = $1 AND sent_at > $2 ORDER BY sent_at DESC LIMIT $3`,
    [value, since, limit],
  );
  return result.rows.map((r) => r.sent_at.getTime());
}
