import { MilletError, newId } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import type { LoginRateLimit } from './types.ts';

export const defaultLoginRateLimit: LoginRateLimit = {
  maxFailuresPerPhone: 5,
  maxFailuresPerIp: 20,
  windowMs: 15 * 60_000,
};

export interface LimitedSubject {
  /** 'phone:<blind index>' or 'ip:<blind index>' */
  subject: string;
  max: number;
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
  windowMs: number,
  action = 'failed log-ins',
): Promise<Reservation> {
  if (subjects.length === 0) return { ids: [] };
  const names = subjects.map((s) => s.subject);
  const windowStart = new Date(now.getTime() - windowMs);
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
    const limited = await tx.query<{ failed_at: Date }>(
      `SELECT r.failed_at FROM (
         SELECT f.failed_at, s.max, row_number() OVER (PARTITION BY f.subject ORDER BY f.failed_at DESC) AS n
         FROM identity_login_failures f JOIN unnest($1::text[], $2::int[]) AS s (subject, max) ON s.subject = f.subject
         WHERE f.failed_at > $3
       ) r WHERE r.n = r.max`,
      [names, subjects.map((s) => s.max), windowStart],
    );
    if (limited.rows.length > 0)
      return Math.max(...limited.rows.map((r) => r.failed_at.getTime() + windowMs - now.getTime()));
    await tx.query(
      'DELETE FROM identity_login_failures WHERE subject = ANY($1::text[]) AND failed_at <= $2',
      [names, windowStart],
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
 * Takes back an attempt's reservation (it did not fail), and with `clearSubject` every failure of
 * that subject: a successful log-in clears its phone's failures, not its address's, so an
 * attacker logging in to an account of their own does not reset the limit on the address.
 */
export async function releaseAttempt(
  q: Queryable,
  reservation: Reservation,
  clearSubject?: string,
): Promise<void> {
  if (reservation.ids.length === 0 && clearSubject === undefined) return;
  await q.query('DELETE FROM identity_login_failures WHERE id = ANY($1::uuid[]) OR subject = $2', [
    reservation.ids,
    clearSubject ?? null,
  ]);
}
