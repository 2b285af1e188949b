import { MilletError, divRound, type Clock } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import type { PartnerDirectory } from './partners.ts';
import { callbackSchema, verifySignature, type CallbackType } from './protocol.ts';
import type { PosteriorCounts } from './ranking.ts';
import type { ScoreBand } from './types.ts';
import type { WebhookHeaders } from '../webhooks/index.ts';

/** The Beta posterior counts per partner key (partner id or 'own') for one score band. */
export async function loadPosteriors(
  q: Queryable,
  partnerKeys: readonly string[],
  band: ScoreBand,
): Promise<Map<string, PosteriorCounts>> {
  const out = new Map<string, PosteriorCounts>();
  for (const key of partnerKeys) out.set(key, { approvals: 0, declines: 0 });
  const { rows } = await q.query<{ partner_key: string; approvals: bigint; declines: bigint }>(
    `SELECT partner_key, approvals, declines FROM marketplace_posteriors
      WHERE partner_key = ANY($1::text[]) AND score_band = $2`,
    [partnerKeys, band],
  );
  for (const r of rows)
    out.set(r.partner_key, { approvals: Number(r.approvals), declines: Number(r.declines) });
  return out;
}

export interface OutcomeEvent {
  applicationId: string;
  /** Null for the platform's own loan. */
  partnerId: string | null;
  /** Deduplication key: the callback's webhook-id. */
  messageId: string;
  type: CallbackType;
  amount?: bigint;
  interest?: bigint;
}

interface PostRow {
  status: string;
  score_band: ScoreBand;
  partner_id: string | null;
  amount: bigint;
  approved_amount: bigint | null;
  disbursed_amount: bigint | null;
  repaid_amount: bigint;
  repaid_interest: bigint;
  cpa_fen: bigint | null;
  cps_bp: number | null;
  revenue_share_bp: number | null;
}

const allowedFrom: Record<CallbackType, string[]> = {
  approved: ['posted'],
  declined: ['posted'],
  disbursed: ['approved'],
  repaid: ['disbursed', 'repaid'],
};

function amountRefused(
  type: CallbackType,
  what: string,
  value: bigint,
  limitName: string,
  limit: bigint,
): never {
  throw new MilletError(
    'MARKETPLACE_CALLBACK_AMOUNT_INVALID',
    `The ${what} (${value} fen) is more than the ${limitName} (${limit} fen)`,
    {
      type,
      [what.replaceAll(' ', '_')]: value.toString(),
      [limitName.replaceAll(' ', '_')]: limit.toString(),
    },
  );
}

/**
 * Fees and the co-debt guard are computed from these amounts, so a partner cannot report more than
 * was posted: approved ≤ the offer posted, disbursed ≤ approved, principal repaid in total ≤
 * disbursed (a repaid amount includes its interest).
 */
function checkAmounts(post: PostRow, event: OutcomeEvent, interest: bigint): void {
  if (event.type === 'approved' && event.amount !== undefined) {
    if (event.amount <= 0n)
      throw new MilletError('VALIDATION_FAILED', 'An approved amount must be positive', { field: 'amount' });
    if (event.amount > post.amount)
      amountRefused('approved', 'amount approved', event.amount, 'amount posted', post.amount);
  }
  if (event.type === 'disbursed') {
    const approved = post.approved_amount ?? post.amount;
    if (event.amount! > approved)
      amountRefused('disbursed', 'amount disbursed', event.amount!, 'amount approved', approved);
  }
  if (event.type === 'repaid') {
    const disbursed = post.disbursed_amount ?? 0n;
    const principal = post.repaid_amount - post.repaid_interest + (event.amount! - interest);
    if (principal > disbursed)
      amountRefused('repaid', 'principal repaid', principal, 'amount disbursed', disbursed);
  }
}

/**
 * Applies one outcome: moves the post along posted → approved | declined → disbursed → repaid,
 * counts the fee it earns (CPA on approval, CPS of the disbursed amount, revenue share of repaid
 * interest, each rounded half-even) and, for decisions, updates the posterior. A message id seen
 * before changes nothing (`duplicate: true`).
 */
export async function recordDecision(
  db: Database,
  clock: Clock,
  event: OutcomeEvent,
): Promise<{ duplicate: boolean; feeFen: bigint }> {
  return db.transaction(async (tx) => {
    const post = (
      await tx.query<PostRow>(
        `SELECT po.status, po.score_band, po.partner_id, po.amount, po.approved_amount, po.disbursed_amount,
                po.repaid_amount, po.repaid_interest, p.cpa_fen, p.cps_bp, p.revenue_share_bp
           FROM marketplace_posts po LEFT JOIN marketplace_partners p ON p.id = po.partner_id
          WHERE po.application_id = $1 AND po.partner_id IS NOT DISTINCT FROM $2::uuid
          FOR UPDATE OF po`,
        [event.applicationId, event.partnerId],
      )
    ).rows[0];
    if (!post)
      throw new MilletError(
        'MARKETPLACE_APPLICATION_NOT_FOUND',
        'No application was posted to this partner',
        {
          application_id: event.applicationId,
        },
      );
    const now = clock.now();
    const inserted = await tx.query(
      `INSERT INTO marketplace_callbacks (message_id, partner_id, application_id, type, amount, interest, received_at)
       VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (message_id) DO NOTHING RETURNING 1`,
      [
        event.messageId,
        event.partnerId,
        event.applicationId,
        event.type,
        event.amount ?? null,
        event.interest ?? null,
        now,
      ],
    );
    if (inserted.rows.length === 0) return { duplicate: true, feeFen: 0n };
    if (!allowedFrom[event.type].includes(post.status))
      throw new MilletError(
        'MARKETPLACE_CALLBACK_OUT_OF_ORDER',
        `A ${event.type} callback cannot follow ${post.status}`,
        { status: post.status, type: event.type },
      );
    const needsAmount = event.type === 'disbursed' || event.type === 'repaid';
    if (needsAmount && (event.amount === undefined || event.amount <= 0n))
      throw new MilletError('VALIDATION_FAILED', `A ${event.type} callback needs a positive amount`, {
        field: 'amount',
      });
    const interest = event.interest ?? 0n;
    if (event.type === 'repaid' && interest > event.amount!)
      throw new MilletError('VALIDATION_FAILED', 'interest cannot exceed amount', { field: 'interest' });
    checkAmounts(post, event, interest);
    let fee = 0n;
    if (post.partner_id !== null) {
      if (event.type === 'approved') fee = post.cpa_fen!;
      if (event.type === 'disbursed')
        fee = divRound(event.amount! * BigInt(post.cps_bp!), 10_000n, 'half_even');
      if (event.type === 'repaid')
        fee = divRound(interest * BigInt(post.revenue_share_bp!), 10_000n, 'half_even');
    }
    const next = event.type === 'repaid' ? 'repaid' : event.type;
    await tx.query(
      `UPDATE marketplace_posts SET status = $2, fee_fen = fee_fen + $3,
              approved_amount = CASE WHEN $4 = 'approved' THEN coalesce($5, amount) ELSE approved_amount END,
              disbursed_amount = CASE WHEN $4 = 'disbursed' THEN $5 ELSE disbursed_amount END,
              disbursed_at = CASE WHEN $4 = 'disbursed' THEN $6 ELSE disbursed_at END,
              decided_at = CASE WHEN $4 IN ('approved', 'declined') THEN $6 ELSE decided_at END,
              repaid_amount = repaid_amount + CASE WHEN $4 = 'repaid' THEN $5 ELSE 0 END,
              repaid_interest = repaid_interest + $7
        WHERE application_id = $1`,
      [
        event.applicationId,
        next,
        fee,
        event.type,
        event.amount ?? null,
        now,
        event.type === 'repaid' ? interest : 0n,
      ],
    );
    if (fee > 0n)
      await tx.query(`UPDATE marketplace_callbacks SET fee_fen = $2 WHERE message_id = $1`, [
        event.messageId,
        fee,
      ]);
    if (event.type === 'approved' || event.type === 'declined')
      await tx.query(
        `INSERT INTO marketplace_posteriors (partner_key, score_band, approvals, declines, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (partner_key, score_band) DO UPDATE
           SET approvals = marketplace_posteriors.approvals + EXCLUDED.approvals,
               declines = marketplace_posteriors.declines + EXCLUDED.declines,
               updated_at = EXCLUDED.updated_at`,
        [
          post.partner_id ?? 'own',
          post.score_band,
          event.type === 'approved' ? 1 : 0,
          event.type === 'declined' ? 1 : 0,
          now,
        ],
      );
    return { duplicate: false, feeFen: fee };
  });
}

/** Longer than any id a partner needs (`msg_` and a UUID is 40), short enough to index. */
export const MAX_MESSAGE_ID_LENGTH = 256;

/** A partner's callback: signature and replay window checked, then applied once per webhook-id. */
export async function handleCallback(
  db: Database,
  clock: Clock,
  partners: PartnerDirectory,
  requestedPartnerId: string,
  headers: WebhookHeaders,
  rawBody: string,
): Promise<{ duplicate: boolean; type: CallbackType; applicationId: string }> {
  const secret = await partners.secret(requestedPartnerId);
  // Deduplication keys on this text: the path's UUID in capitals names the same partner, and a
  // replayed callback sent there was applied a second time.
  const partnerId = requestedPartnerId.toLowerCase();
  let messageId: string;
  try {
    messageId = verifySignature(secret, headers, rawBody).id;
  } catch (error) {
    throw new MilletError('MARKETPLACE_SIGNATURE_INVALID', 'The callback signature does not verify', {
      reason: (error as { reason?: string }).reason ?? 'invalid',
    });
  }
  // The id is a primary key: past a few kilobytes PostgreSQL cannot index it (a 500).
  if (messageId.length > MAX_MESSAGE_ID_LENGTH)
    throw new MilletError(
      'VALIDATION_FAILED',
      `webhook-id may be at most ${MAX_MESSAGE_ID_LENGTH} characters`,
      {
        field: 'webhook-id',
      },
    );
  let json: unknown;
  try {
    json = JSON.parse(rawBody);
  } catch {
    throw new MilletError('REQUEST_MALFORMED', 'The callback body is not JSON');
  }
  const parsed = callbackSchema.safeParse(json);
  if (!parsed.success)
    throw new MilletError('VALIDATION_FAILED', 'The callback does not follow the partner protocol', {
      errors: parsed.error.issues.map((i) => ({ path: i.path.join('.'), detail: i.message })),
    });
  const c = parsed.data;
  const result = await recordDecision(db, clock, {
    applicationId: c.application_id,
    partnerId,
    messageId: `${partnerId}:${messageId}`,
    type: c.type,
    amount: c.amount === undefined ? undefined : BigInt(c.amount),
    interest: c.interest === undefined ? undefined : BigInt(c.interest),
  });
  return { duplicate: result.duplicate, type: c.type, applicationId: c.application_id };
}
