import { MilletError, newId } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
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

/**
 * Throws RATE_LIMITED (with retryAfterSeconds) when any subject has `max` failures within the
 * window. The counts live in the database, so every process sees the same limit.
 */
export async function assertNotRateLimited(
  db: Queryable,
  subjects: readonly LimitedSubject[],
  now: Date,
  windowMs: number,
): Promise<void> {
  let retryAfterMs = 0;
  for (const { subject, max } of subjects) {
    const result = await db.query<{ failed_at: Date }>(
      `SELECT failed_at FROM identity_login_failures WHERE subject = $1 AND failed_at > $2
       ORDER BY failed_at DESC LIMIT $3`,
      [subject, new Date(now.getTime() - windowMs), max],
    );
    if (result.rows.length < max) continue;
    // The limit lifts when the max-th most recent failure leaves the window.
    const lifts = result.rows[max - 1]!.failed_at.getTime() + windowMs;
    retryAfterMs = Math.max(retryAfterMs, lifts - now.getTime());
  }
  if (retryAfterMs > 0) {
    const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    throw new MilletError(
      'RATE_LIMITED',
      `Too many failed log-ins; try again in ${retryAfterSeconds} seconds`,
      { retryAfterSeconds },
    );
  }
}

export async function recordLoginFailure(
  db: Queryable,
  subjects: readonly string[],
  now: Date,
  windowMs: number,
): Promise<void> {
  if (subjects.length === 0) return;
  await db.query(
    `INSERT INTO identity_login_failures (id, subject, failed_at)
     SELECT s.id, s.subject, $3 FROM unnest($1::uuid[], $2::text[]) AS s (id, subject)`,
    [subjects.map(() => newId()), subjects, now],
  );
  await db.query('DELETE FROM identity_login_failures WHERE subject = ANY($1::text[]) AND failed_at <= $2', [
    subjects,
    new Date(now.getTime() - windowMs),
  ]);
}

export async function clearLoginFailures(db: Queryable, subject: string): Promise<void> {
  await db.query('DELETE FROM identity_login_failures WHERE subject = $1', [subject]);
}
