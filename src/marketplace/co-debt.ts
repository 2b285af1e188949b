import { MilletError } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';

/**
 * The co-debt guard (DESIGN §2.6): how many applications and loans a user has had across the
 * marketplace's partners (and the platform's own loan when routed here) in the last 30 and 90
 * days, by count and amount. Past a limit the marketplace routes no more and says why; the same
 * numbers are a feature for the score (`existingCredits`).
 */
export interface CoDebtWindow {
  applications: number;
  applicationAmountFen: bigint;
  loans: number;
  loanAmountFen: bigint;
}

export interface CoDebtSnapshot {
  last30: CoDebtWindow;
  last90: CoDebtWindow;
  /**
   * Loans disbursed through partners whose principal is not fully repaid. Not the own loan's: the
   * composition root adds lending's own open loans (`openLoanCounts`), and lending never reports
   * the own loan's repayment here, so counting it made it two credits while open and one for ever.
   */
  outstandingLoans: number;
}

export interface CoDebtLimits {
  applications30: number;
  applications90: number;
  /** Applied amount in 90 days, the new application included. */
  applicationAmount90Fen: bigint;
  loans90: number;
}

export const defaultCoDebtLimits: CoDebtLimits = {
  applications30: 5,
  applications90: 10,
  applicationAmount90Fen: 50_000_000n, // 500,000.00 CNY
  loans90: 3,
};

const DAY_MS = 86_400_000;
const emptyWindow = (): CoDebtWindow => ({
  applications: 0,
  applicationAmountFen: 0n,
  loans: 0,
  loanAmountFen: 0n,
});

/** One query for many users (the score refresh asks in batches). */
export async function coDebtSnapshots(
  db: Queryable,
  userIds: readonly string[],
  asOf: Date,
): Promise<Map<string, CoDebtSnapshot>> {
  const result = new Map<string, CoDebtSnapshot>();
  if (userIds.length === 0) return result;
  const { rows } = await db.query<{
    user_id: string;
    a30: bigint;
    amt30: bigint | null;
    l30: bigint;
    lamt30: bigint | null;
    a90: bigint;
    amt90: bigint | null;
    l90: bigint;
    lamt90: bigint | null;
    outstanding: bigint;
  }>(
    `SELECT user_id,
            count(*) FILTER (WHERE posted_at > $2) AS a30,
            sum(amount) FILTER (WHERE posted_at > $2) AS amt30,
            count(*) FILTER (WHERE disbursed_at > $2) AS l30,
            sum(disbursed_amount) FILTER (WHERE disbursed_at > $2) AS lamt30,
            count(*) FILTER (WHERE posted_at > $3) AS a90,
            sum(amount) FILTER (WHERE posted_at > $3) AS amt90,
            count(*) FILTER (WHERE disbursed_at > $3) AS l90,
            sum(disbursed_amount) FILTER (WHERE disbursed_at > $3) AS lamt90,
            count(*) FILTER (WHERE partner_id IS NOT NULL AND disbursed_amount IS NOT NULL
                              AND repaid_amount - repaid_interest < disbursed_amount) AS outstanding
       FROM marketplace_posts
      WHERE user_id = ANY($1::uuid[]) AND status <> 'failed' AND posted_at <= $4
      GROUP BY user_id`,
    [userIds, new Date(asOf.getTime() - 30 * DAY_MS), new Date(asOf.getTime() - 90 * DAY_MS), asOf],
  );
  for (const r of rows)
    result.set(r.user_id, {
      last30: {
        applications: Number(r.a30),
        applicationAmountFen: BigInt(r.amt30 ?? 0n),
        loans: Number(r.l30),
        loanAmountFen: BigInt(r.lamt30 ?? 0n),
      },
      last90: {
        applications: Number(r.a90),
        applicationAmountFen: BigInt(r.amt90 ?? 0n),
        loans: Number(r.l90),
        loanAmountFen: BigInt(r.lamt90 ?? 0n),
      },
      outstandingLoans: Number(r.outstanding),
    });
  for (const id of userIds)
    if (!result.has(id))
      result.set(id, { last30: emptyWindow(), last90: emptyWindow(), outstandingLoans: 0 });
  return result;
}

/** Throws MARKETPLACE_CO_DEBT_LIMIT, naming the limit passed, when this application may not route. */
export function checkCoDebt(snapshot: CoDebtSnapshot, amount: bigint, limits: CoDebtLimits): void {
  const refuse = (limit: string, value: string, max: string) => {
    throw new MilletError(
      'MARKETPLACE_CO_DEBT_LIMIT',
      `Too many recent credit applications or loans across lenders (${limit}: ${value}, limit ${max})`,
      { limit, value, max },
    );
  };
  if (snapshot.last30.applications >= limits.applications30)
    refuse('applications_30d', String(snapshot.last30.applications), String(limits.applications30));
  if (snapshot.last90.applications >= limits.applications90)
    refuse('applications_90d', String(snapshot.last90.applications), String(limits.applications90));
  if (snapshot.last90.loans >= limits.loans90)
    refuse('loans_90d', String(snapshot.last90.loans), String(limits.loans90));
  const total = snapshot.last90.applicationAmountFen + amount;
  if (total > limits.applicationAmount90Fen)
    refuse('application_amount_90d', total.toString(), limits.applicationAmount90Fen.toString());
}
