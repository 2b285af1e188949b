import type { Queryable } from '../db/index.ts';
import type { PosteriorCounts } from './ranking.ts';
import type { ScoreBand } from './types.ts';

export interface PartnerUsage {
  postsToday: number;
  /** Fees recorded this month, plus what the open posts made since last month began still hold. */
  feesThisMonth: bigint;
}

export interface RoutingNumbers {
  usage(partnerId: string): PartnerUsage;
  /** Approvals and declines seen for a partner id (or 'own') in a score band. */
  posterior(partnerKey: string, band: ScoreBand): PosteriorCounts;
}

interface Snapshot {
  at: number;
  today: string;
  usage: Map<string, PartnerUsage>;
  /** `${partnerKey}:${band}` → counts. */
  posteriors: Map<string, PosteriorCounts>;
}

const NONE: PartnerUsage = Object.freeze({ postsToday: 0, feesThisMonth: 0n });
const NO_EVIDENCE: PosteriorCounts = Object.freeze({ approvals: 0, declines: 0 });

/** The start of the business month (Asia/Shanghai) of a business date. */
export const monthStart = (date: string): Date => new Date(`${date.slice(0, 7)}-01T00:00:00+08:00`);

/**
 * The first business date whose open posts hold the budget of `date`'s month: the first of the
 * month before. A post's payout counts once, where its fee is recorded (the month the callback
 * arrives) and, while it is open, as a hold of what it has not yet earned; that fee can only arrive
 * from now on, so the hold counts in the month being checked, not the month the post was made.
 * Before, a post made on the 31st held only its own month's budget: from the 1st the fee still
 * to come counted nowhere, and the partner was posted past its new month's budget. A post made
 * before last month and still open is taken as not going to earn (an approved line never drawn),
 * so stale posts do not hold a budget for ever.
 */
export function holdsSince(date: string): string {
  const year = Number(date.slice(0, 4));
  const month = Number(date.slice(5, 7));
  const [y, m] = month === 1 ? [year - 1, 12] : [year, month - 1];
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-01`;
}

/** What a partner has used of its limits, as its daily cap and monthly budget count it. */
export interface LimitUsage {
  postsToday: number;
  /** Fees recorded this month. */
  fees: bigint;
  /** What the open posts made since last month began may still earn (`holdsSince`). */
  held: bigint;
}

/**
 * Whether a monthly budget has no room for a post that may earn `payoutFen`, with `usedFen` of it
 * used (fees recorded plus holds). A budget used up has no room even for a post whose payout is
 * known only later (revenue share only, so 0 now): `used + 0 > budget` alone let such a partner be
 * pinged and posted with its budget exactly spent. Routing and `choose` both ask this, so the
 * partner routing stops pinging is the one a choice refuses. No budget (`null`) never refuses.
 */
export function monthlyBudgetRefuses(budgetFen: bigint | null, usedFen: bigint, payoutFen: bigint): boolean {
  if (budgetFen === null) return false;
  return usedFen >= budgetFen || usedFen + payoutFen > budgetFen;
}

/**
 * Posts today, fees recorded this month and open holds, per partner (or of one partner): the one
 * definition both routing's snapshot and `choose`'s check under the partner's lock read, so the
 * partner routing stops pinging is the one a choice refuses. A post counts against the daily cap
 * unless it failed; an open post (posted or approved) holds what it has not yet earned of its
 * `reserved_fen`, the fees it has earned counting by themselves in the month they arrived.
 */
export async function limitUsage(
  q: Queryable,
  today: string,
  partnerId?: string,
): Promise<Map<string, LimitUsage>> {
  const one = partnerId === undefined ? '' : 'AND partner_id = $4';
  const { rows } = await q.query<{ partner_id: string; posts_today: bigint; fees: bigint; held: bigint }>(
    `SELECT partner_id, sum(posts_today)::int8 AS posts_today, sum(fees)::int8 AS fees, sum(held)::int8 AS held
       FROM (SELECT partner_id, count(*) AS posts_today, 0::numeric AS fees, 0::numeric AS held
               FROM marketplace_posts
              WHERE business_date = $1 AND status <> 'failed' AND partner_id IS NOT NULL ${one}
              GROUP BY partner_id
             UNION ALL
             SELECT partner_id, 0, sum(fee_fen), 0 FROM marketplace_callbacks
              WHERE received_at >= $2 AND partner_id IS NOT NULL ${one}
              GROUP BY partner_id
             UNION ALL
             SELECT partner_id, 0, 0, sum(greatest(reserved_fen - fee_fen, 0)) FROM marketplace_posts
              WHERE business_date >= $3 AND status IN ('posted', 'approved') AND partner_id IS NOT NULL ${one}
              GROUP BY partner_id) used
      GROUP BY partner_id`,
    [today, monthStart(today), holdsSince(today), ...(partnerId === undefined ? [] : [partnerId])],
  );
  const out = new Map<string, LimitUsage>();
  for (const r of rows)
    out.set(r.partner_id, {
      postsToday: Number(r.posts_today),
      fees: BigInt(r.fees),
      held: BigInt(r.held),
    });
  return out;
}

/**
 * What routing reads about every partner besides the partner itself — posts today and fees this
 * month (for the daily cap and the monthly budget) and the approval posteriors (for ranking) — read
 * for all partners in two queries and shared by every application for up to `ttlMs`, instead of
 * three queries per application (at hundreds a second, a large part of the database's work).
 *
 * How exact: this instance drops the snapshot whenever it records something that changes these
 * numbers (a post, a callback, an own-loan outcome: `invalidate`), so on one instance a cap or
 * budget stops routing from the next application, as before. Another instance's posts and
 * callbacks are seen within `ttlMs` (1 s). Either way this only spares pinging a partner that is
 * full: the hard limit is `choose`'s, counted under a lock on the partner's row.
 */
export class RoutingCounters {
  private snapshot: Promise<Snapshot> | null = null;

  constructor(
    private readonly db: Queryable,
    private readonly ttlMs = 1_000,
  ) {}

  /** The numbers as of at most `ttlMs` ago (or the last `invalidate`), for business date `today`. */
  async read(today: string): Promise<RoutingNumbers> {
    const { usage, posteriors } = await this.current(today);
    return {
      usage: (partnerId) => usage.get(partnerId) ?? NONE,
      posterior: (partnerKey, band) => posteriors.get(`${partnerKey}:${band}`) ?? NO_EVIDENCE,
    };
  }

  /** Forget the snapshot: the next application reads the numbers again. */
  invalidate(): void {
    this.snapshot = null;
  }

  private async current(today: string): Promise<Snapshot> {
    const held = this.snapshot;
    if (held) {
      const s = await held;
      if (s.today === today && performance.now() - s.at < this.ttlMs) return s;
      if (this.snapshot === held) this.snapshot = null;
    }
    if (!this.snapshot) {
      const loading = this.load(today);
      this.snapshot = loading;
      // A failed read is not kept: the next application tries again.
      loading.catch(() => {
        if (this.snapshot === loading) this.snapshot = null;
      });
    }
    return this.snapshot;
  }

  private async load(today: string): Promise<Snapshot> {
    const at = performance.now();
    // Fees this month include what the open posts may still earn (their holds, as `choose` counts
    // them): a budget held in full stops the pings before any callback.
    const [limits, posteriorRows] = await Promise.all([
      limitUsage(this.db, today),
      this.db.query<{ partner_key: string; score_band: string; approvals: bigint; declines: bigint }>(
        'SELECT partner_key, score_band, approvals, declines FROM marketplace_posteriors',
      ),
    ]);
    const usage = new Map<string, PartnerUsage>();
    for (const [id, u] of limits) usage.set(id, { postsToday: u.postsToday, feesThisMonth: u.fees + u.held });
    const posteriors = new Map<string, PosteriorCounts>();
    for (const r of posteriorRows.rows)
      posteriors.set(`${r.partner_key}:${r.score_band}`, {
        approvals: Number(r.approvals),
        declines: Number(r.declines),
      });
    return { at, today, usage, posteriors };
  }
}
