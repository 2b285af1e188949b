import { MilletError, newId } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import type { LoginRateLimit } from './types.ts';

export const defaultLoginRateLimit: LoginRateLimit = {
  maxFailuresPerPhoneAndIp: 5,
  maxFailuresPerIp: 20,
  windowMs: 15 * 60_000,
  maxFailuresPerPhone: 100,
  phoneWindowMs: 24 * 3_600_000,
  knownAddressMs: 30 * 86_400_000,
  maxFailuresPerDeviceToken: 10,
  deviceTokenWindowMs: 24 * 3_600_000,
  deviceTokenTtlMs: 180 * 86_400_000,
};

export interface LimitedSubject {
  /**
   * 'pair:<blind index>' (phone and address), 'ip:<blind index>', 'phone:<blind index>',
   * 'device:<token hash>' or 'kyc:<user id>' (verifications naming an ID verified for another user)
   */
  subject: string;
  /** Failures allowed within the window; null: the attempt is recorded but never refused by it. */
  max: number | null;
  windowMs: number;
}

/** The failure rows an attempt reserved; they stay as its failure unless released. */
export interface Reservation {
  ids: string[];
}

/**
 * Counts each subject's failures within the window and, when every subject has room, records this
 * attempt as a failure of each before it is judged; throws RATE_LIMITED (with retryAfterSeconds)
 * otherwise, recording nothing. The counts live in the database, so every process sees the same
 * limit.
 *
 * Counting and reserving happen under a row lock per subject (identity_rate_limit_gates), taken in
 * subject order so two attempts never wait on each other crosswise: attempts arriving together
 * each see the reservations of those before them, and no more than `max` get through. The lock is
 * held for these few statements only, never across the password check, and only attempts naming
 * the same phone or address wait on it.
 */
export async function reserveAttempt(
  db: Database,
  subjects: readonly LimitedSubject[],
  now: Date,
  action = 'failed log-ins',
): Promise<Reservation> {
  if (subjects.length === 0) return { ids: [] };
  const names = subjects.map((s) => s.subject);
  const windowStarts = subjects.map((s) => new Date(now.getTime() - s.windowMs));
  const windows = new Map(subjects.map((s) => [s.subject, s.windowMs]));
  const ids = names.map(() => newId());
  const retryAfterMs = await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO identity_rate_limit_gates AS g (subject)
       SELECT subject FROM unnest($1::text[]) AS s (subject) ORDER BY subject
       ON CONFLICT (subject) DO UPDATE SET subject = g.subject`,
      [names],
    );
    // For each subject at its limit, the max-th most recent failure: the limit lifts when it
    // leaves the window.
    const limited = await tx.query<{ subject: string; failed_at: Date }>(
      `SELECT r.subject, r.failed_at FROM (
         SELECT f.subject, f.failed_at, s.max, row_number() OVER (PARTITION BY f.subject ORDER BY f.failed_at DESC) AS n
         FROM identity_login_failures f
         JOIN unnest($1::text[], $2::int[], $3::timestamptz[]) AS s (subject, max, since) ON s.subject = f.subject
         WHERE f.failed_at > s.since
       ) r WHERE r.n = r.max`,
      [names, subjects.map((s) => s.max), windowStarts],
    );
    if (limited.rows.length > 0)
      return Math.max(
        ...limited.rows.map((r) => r.failed_at.getTime() + windows.get(r.subject)! - now.getTime()),
      );
    await tx.query(
      `DELETE FROM identity_login_failures f USING unnest($1::text[], $2::timestamptz[]) AS s (subject, since)
       WHERE f.subject = s.subject AND f.failed_at <= s.since`,
      [names, windowStarts],
    );
    await tx.query(
      `INSERT INTO identity_login_failures (id, subject, failed_at)
       SELECT s.id, s.subject, $3 FROM unnest($1::uuid[], $2::text[]) AS s (id, subject)`,
      [ids, names, now],
    );
    return 0;
  });
  if (retryAfterMs > 0) {
    const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    throw new MilletError('RATE_LIMITED', `Too many ${action}; try again in ${retryAfterSeconds} seconds`, {
      retryAfterSeconds,
    });
  }
  return { ids };
}

/**
 * Takes back an attempt's reservation (it did not fail), and with `clearSubjects` every failure
 * of those subjects: a successful log-in clears its own phone and address pair's failures, not
 * the address's (an attacker logging in to an account of their own must not reset the limit on
 * the address) nor the phone's (the owner logging in must not give strangers a fresh ceiling).
 */
export async function releaseAttempt(
  q: Queryable,
  reservation: Reservation,
  clearSubjects: readonly string[] = [],
): Promise<void> {
  if (reservation.ids.length === 0 && clearSubjects.length === 0) return;
  await q.query(
    'DELETE FROM identity_login_failures WHERE id = ANY($1::uuid[]) OR subject = ANY($2::text[])',
    [reservation.ids, clearSubjects],
  );
}
