import { MilletError, isUuid, type Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import type { ApplicantField } from './types.ts';

/** A separate consent (PIPL Art. 23): which fields, to which recipient, for what purpose. */
export interface MarketplaceConsent {
  id: string;
  userId: string;
  applicationId: string;
  partnerId: string | null;
  recipient: string;
  purpose: string;
  fields: ApplicantField[];
  termsVersion: string;
  grantedAt: Date;
  withdrawnAt: Date | null;
}

interface Row {
  id: string;
  user_id: string;
  application_id: string;
  partner_id: string | null;
  recipient: string;
  purpose: string;
  fields: ApplicantField[];
  terms_version: string;
  granted_at: Date;
  withdrawn_at: Date | null;
}

const fromRow = (r: Row): MarketplaceConsent => ({
  id: r.id,
  userId: r.user_id,
  applicationId: r.application_id,
  partnerId: r.partner_id,
  recipient: r.recipient,
  purpose: r.purpose,
  fields: r.fields,
  termsVersion: r.terms_version,
  grantedAt: r.granted_at,
  withdrawnAt: r.withdrawn_at,
});

/** The user's marketplace consents, newest first; `before` is the last id of the previous page. */
export async function listConsents(
  db: Database,
  userId: string,
  query: { before?: string; limit?: number } = {},
): Promise<{ items: MarketplaceConsent[]; nextCursor: string | null }> {
  const limit = query.limit ?? 50;
  const { rows } = await db.query<Row>(
    `SELECT * FROM marketplace_consents WHERE user_id = $1 AND ($2::uuid IS NULL OR id < $2::uuid)
      ORDER BY id DESC LIMIT $3`,
    [userId, query.before ?? null, limit + 1],
  );
  const items = rows.slice(0, limit).map(fromRow);
  return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
}

/** Stamps withdrawn_at (append-only: the record stays). Withdrawing twice is harmless. */
export async function withdrawConsent(
  db: Database,
  clock: Clock,
  userId: string,
  consentId: string,
): Promise<MarketplaceConsent> {
  // A UUID, not just its alphabet and length: 36 dashes reached the uuid column and answered 500.
  const { rows } = isUuid(consentId)
    ? await db.query<Row>(
        `UPDATE marketplace_consents SET withdrawn_at = coalesce(withdrawn_at, $3)
          WHERE id = $1 AND user_id = $2 RETURNING *`,
        [consentId, userId, clock.now()],
      )
    : { rows: [] };
  if (!rows[0])
    throw new MilletError('MARKETPLACE_CONSENT_NOT_FOUND', 'No such consent', { consent_id: consentId });
  return fromRow(rows[0]);
}
