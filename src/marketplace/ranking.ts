/**
 * Ranking by expected value (DESIGN §2.6): P(approve | partner, score band) × payout, the
 * probability learned from outcomes as a Beta posterior, with exploration. Pure functions: the
 * router runs them on live pings, the benchmark on 50,000 simulated applications.
 *
 * Probabilities and expected values are floats (they only order offers); money stays bigint.
 */
import { seededRandom } from '../core/index.ts';

export { seededRandom };

/** Beta(1, 1): a partner nobody has seen yet is a coin toss, so it gets explored. */
export const PRIOR_APPROVALS = 1;
export const PRIOR_DECLINES = 1;

export type Exploration = 'thompson' | 'ucb' | 'mean';

export interface PosteriorCounts {
  approvals: number;
  declines: number;
}

export interface Candidate {
  /** A key the caller uses to find its offer again (offer ref). */
  key: string;
  /** The partner id, or 'own'. */
  partnerKey: string;
  /** Fen the platform earns if the application is approved (CPA + CPS × amount, or own value). */
  payoutFen: bigint;
  aprBp: number;
  posterior: PosteriorCounts;
}

export interface RankingExplanation {
  rank: number;
  exploration: Exploration;
  approvals: number;
  declines: number;
  /** Posterior mean (α / (α + β)). */
  posteriorMean: number;
  /** The probability used: a Thompson draw, the UCB bound, or the mean. */
  probabilityUsed: number;
  payoutFen: string;
  expectedValueFen: number;
  /** One sentence for operators. */
  summary: string;
}

export interface Ranked<C extends Candidate> {
  candidate: C;
  explanation: RankingExplanation;
}

function standardNormal(random: () => number): number {
  // Box–Muller; 1 − u keeps the logarithm finite.
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Gamma(shape, 1) by Marsaglia and Tsang (2000); shape < 1 by the boost u^(1/shape). */
export function sampleGamma(shape: number, random: () => number): number {
  if (shape < 1) return sampleGamma(shape + 1, random) * Math.pow(random() || Number.MIN_VALUE, 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = random();
    if (u < 1 - 0.0331 * x ** 4) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

export function sampleBeta(alpha: number, beta: number, random: () => number): number {
  const x = sampleGamma(alpha, random);
  const y = sampleGamma(beta, random);
  return x / (x + y);
}

export function posteriorMean(counts: PosteriorCounts): number {
  const a = PRIOR_APPROVALS + counts.approvals;
  const b = PRIOR_DECLINES + counts.declines;
  return a / (a + b);
}

/** The probability the ranking uses for one candidate under the chosen exploration. */
export function approvalProbability(
  counts: PosteriorCounts,
  exploration: Exploration,
  random: () => number,
  totalObservations = 0,
): number {
  const a = PRIOR_APPROVALS + counts.approvals;
  const b = PRIOR_DECLINES + counts.declines;
  if (exploration === 'thompson') return sampleBeta(a, b, random);
  const mean = a / (a + b);
  if (exploration === 'mean') return mean;
  // UCB1-style bound on the Beta mean: mean + sqrt(2 ln N / n), capped at 1.
  const n = a + b;
  return Math.min(1, mean + Math.sqrt((2 * Math.log(Math.max(2, totalObservations + 2))) / n));
}

/**
 * Orders candidates by expected value (probability × payout), highest first; ties go to the lower
 * APR (cheaper for the user), then the key. Each result carries the explanation operators see.
 */
export function rankByExpectedValue<C extends Candidate>(
  candidates: readonly C[],
  options: { exploration?: Exploration; random?: () => number } = {},
): Ranked<C>[] {
  const exploration = options.exploration ?? 'thompson';
  const random = options.random ?? Math.random;
  const total = candidates.reduce((n, c) => n + c.posterior.approvals + c.posterior.declines, 0);
  const scored = candidates.map((candidate) => {
    const p = approvalProbability(candidate.posterior, exploration, random, total);
    return { candidate, p, ev: p * Number(candidate.payoutFen) };
  });
  scored.sort(
    (x, y) =>
      y.ev - x.ev ||
      x.candidate.aprBp - y.candidate.aprBp ||
      (x.candidate.key < y.candidate.key ? -1 : x.candidate.key > y.candidate.key ? 1 : 0),
  );
  return scored.map(({ candidate, p, ev }, index) => {
    const mean = posteriorMean(candidate.posterior);
    const { approvals, declines } = candidate.posterior;
    return {
      candidate,
      explanation: {
        rank: index + 1,
        exploration,
        approvals,
        declines,
        posteriorMean: mean,
        probabilityUsed: p,
        payoutFen: candidate.payoutFen.toString(),
        expectedValueFen: ev,
        summary:
          `rank ${index + 1}: P(approve) ${p.toFixed(3)} (${exploration}; posterior mean ${mean.toFixed(3)} ` +
          `from ${approvals} approvals, ${declines} declines) × payout ${candidate.payoutFen} fen = ` +
          `expected ${ev.toFixed(0)} fen`,
      },
    };
  });
}
