import { MilletError, newId, type Clock } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';

/** What a user agrees to when consenting to credit scoring (DESIGN §2.9: what, to whom, purpose). */
export const CREDIT_CONSENT = {
  scope: 'credit_scoring',
  /** The data the score is computed from. Never social-graph data, never protected attributes. */
  dataCategories: [
    'identity_verification_status',
    'adult_status',
    'wallet_balance',
    'fund_holdings',
    'loans_on_platform_and_partners',
    'pay_later_statements_and_repayments',
    'application_answers',
  ],
  recipient: 'Millet platform operator (not shared with partners)',
  purpose:
    'Compute your credit score (350–950) with its reasons, on request and in the monthly refresh, to decide deposit-free services and credit offers',
  termsVersion: '2026-1',
} as const;

export interface CreditConsent {
  id: string;
  userId: string;
  scope: string;
  dataCategories: string[];
  recipient: string;
  purpose: string;
  termsVersion: string;
  grantedAt: Date;
  /** Null while the consent is active. */
  withdrawnAt: Date | null;
}

interface ConsentRow {
  id: string;
  user_id: string;
  scope: string;
  data_categories: string[];
  recipient: string;
  purpose: string;
  terms_version: string;
  granted_at: Date;
  withdrawn_at: Date | null;
}

const columns =
  'id, user_id, scope, data_categories, recipient, purpose, terms_version, granted_at, withdrawn_at';

const fromRow = (r: ConsentRow): CreditConsent => ({
  id: r.id,
  userId: r.user_id,
  scope: r.scope,
  dataCategories: r.data_categories,
  recipient: r.recipient,
  purpose: r.purpose,
  termsVersion: r.terms_version,
  grantedAt: r.granted_at,
  withdrawnAt: r.withdrawn_at,
});

export async function activeConsent(q: Queryable, userId: string): Promise<CreditConsent | null> {
  const r = await q.query<ConsentRow>(
    `SELECT ${columns} FROM credit_consents WHERE user_id = $1 AND withdrawn_at IS NULL`,
    [userId],
  );
  return r.rows[0] ? fromRow(r.rows[0]) : null;
}

/** Every consent record of a user, oldest first (withdrawn ones included: they are never deleted). */
export async function listConsents(q: Queryable, userId: string): Promise<CreditConsent[]> {
  const r = await q.query<ConsentRow>(
    `SELECT ${columns} FROM credit_consents WHERE user_id = $1 ORDER BY granted_at, id`,
    [userId],
  );
  return r.rows.map(fromRow);
}

/** Records consent; granting while a consent is active returns that one unchanged. */
export async function insertConsent(q: Queryable, clock: Clock, userId: string): Promise<CreditConsent> {
  const c = CREDIT_CONSENT;
  // The active consent met by the conflict can be withdrawn before it is read back (a withdrawal
  // sent at the same time): then there is none to return, and the grant is tried again. Each pass
  // again needs a withdrawal committed in between, so this ends as soon as the user stops racing.
  for (;;) {
    const inserted = await q.query<ConsentRow>(
      `INSERT INTO credit_consents (${columns})
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)
       ON CONFLICT (user_id) WHERE withdrawn_at IS NULL DO NOTHING
       RETURNING ${columns}`,
      [
        newId(),
        userId,
        c.scope,
        JSON.stringify(c.dataCategories),
        c.recipient,
        c.purpose,
        c.termsVersion,
        clock.now(),
      ],
    );
    if (inserted.rows[0]) return fromRow(inserted.rows[0]);
    const active = await activeConsent(q, userId);
    if (active) return active;
  }
}

/**
 * Withdraws the active consent by stamping withdrawn_at (the row stays). Withdrawing again returns
 * the latest record unchanged; a user who never consented gets CONSENT_NOT_FOUND.
 */
export async function stampWithdrawal(q: Queryable, clock: Clock, userId: string): Promise<CreditConsent> {
  const r = await q.query<ConsentRow>(
    `UPDATE credit_consents SET withdrawn_at = GREATEST($2::timestamptz, granted_at)
     WHERE user_id = $1 AND withdrawn_at IS NULL RETURNING ${columns}`,
    [userId, clock.now()],
  );
  if (r.rows[0]) return fromRow(r.rows[0]);
  const all = await listConsents(q, userId);
  const latest = all[all.length - 1];
  if (!latest)
    throw new MilletError('CONSENT_NOT_FOUND', 'There is no credit-scoring consent to withdraw', { userId });
  return latest;
}
