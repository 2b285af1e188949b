import type { Database } from '../db/index.ts';

/** Scores run from 350 to 950; the console groups them in bands of 50. */
export const SCORE_BANDS: ReadonlyArray<{ from: number; to: number }> = Array.from(
  { length: 12 },
  (_, i) => ({
    from: 350 + i * 50,
    to: i === 11 ? 950 : 399 + i * 50,
  }),
);

export interface ScoreDistribution {
  /** Users with a score in use; each counted once, at their latest score under the consent in force. */
  users: number;
  mean: number | null;
  bands: Array<{ from: number; to: number; count: number }>;
  /** Per business month (YYYY-MM, oldest first, at most 12): each user's last score that month. */
  months: Array<{ month: string; users: number; mean: number; bands: number[] }>;
  /**
   * Population stability index of the latest month's bands against the month before (null with
   * fewer than two months): under 0.1 stable, 0.1–0.25 some drift, over 0.25 a shift to look at.
   */
  psi: number | null;
}

const bandOf = (score: number) => Math.min(11, Math.max(0, Math.floor((score - 350) / 50)));

/**
 * Scores computed under the consent now in force, the only ones the platform may use (DESIGN §2.9):
 * a withdrawal, or a new grant after one, takes the user's earlier scores out of every aggregate,
 * months already past included, as it does out of lending decisions (see getLatestScore).
 */
const scoresInUse = `SELECT s.user_id, s.business_date, s.score, s.scored_at, s.id
   FROM credit_scores s
   JOIN credit_consents c ON c.user_id = s.user_id AND c.withdrawn_at IS NULL AND c.id = s.consent_id`;

/** The score distribution and its drift month over month, for operators (no personal data). */
export async function scoreDistribution(db: Database): Promise<ScoreDistribution> {
  const latest = await db.query<{ score: number }>(
    `SELECT DISTINCT ON (user_id) score FROM (${scoresInUse}) s ORDER BY user_id, scored_at DESC, id DESC`,
  );
  const counts = new Array<number>(12).fill(0);
  let sum = 0;
  for (const { score } of latest.rows) {
    counts[bandOf(score)]! += 1;
    sum += score;
  }
  const monthly = await db.query<{ month: string; score: number }>(
    `SELECT DISTINCT ON (user_id, month) month, score
       FROM (SELECT user_id, to_char(business_date, 'YYYY-MM') AS month, score, scored_at, id FROM (${scoresInUse}) u) s
      ORDER BY user_id, month, scored_at DESC, id DESC`,
  );
  const byMonth = new Map<string, { users: number; sum: number; bands: number[] }>();
  for (const { month, score } of monthly.rows) {
    const m = byMonth.get(month) ?? { users: 0, sum: 0, bands: new Array<number>(12).fill(0) };
    m.users += 1;
    m.sum += score;
    m.bands[bandOf(score)]! += 1;
    byMonth.set(month, m);
  }
  const months = [...byMonth.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .slice(-12)
    .map(([month, m]) => ({
      month,
      users: m.users,
      mean: Math.round((m.sum / m.users) * 10) / 10,
      bands: m.bands,
    }));
  const [previous, current] = months.slice(-2);
  return {
    users: latest.rows.length,
    mean: latest.rows.length ? Math.round((sum / latest.rows.length) * 10) / 10 : null,
    bands: SCORE_BANDS.map((b, i) => ({ ...b, count: counts[i]! })),
    months,
    psi:
      months.length >= 2 && previous && current ? populationStability(previous.bands, current.bands) : null,
  };
}

/** PSI = Σ (actual − expected) · ln(actual / expected) over band shares, empty bands floored at 0.0001. */
export function populationStability(expected: readonly number[], actual: readonly number[]): number {
  const total = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) || 1;
  const te = total(expected);
  const ta = total(actual);
  let psi = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max(1e-4, (expected[i] ?? 0) / te);
    const a = Math.max(1e-4, (actual[i] ?? 0) / ta);
    psi += (a - e) * Math.log(a / e);
  }
  return Math.round(psi * 10_000) / 10_000;
}
