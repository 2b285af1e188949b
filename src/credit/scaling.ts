/**
 * Points to double the odds. score = offset + factor × ln(odds), odds = good:bad = (1 − p) / p,
 * factor = PDO / ln 2, offset = base score − factor × ln(base odds); clamped to [min, max].
 *
 * Millet's constants: 600 points at 20:1 good:bad (a 4.76% chance of default), 40 points to double
 * the odds, range 350–950 (the Sesame Credit range). So 640 is 40:1, 560 is 10:1, 520 is 5:1 and
 * 350 is reached at about 0.26:1 (79% default). The default approval cut-off is 550 (about 8.4:1,
 * 10.6% default), the middle of the typical 550/600/650 service bars.
 */
export interface Scaling {
  base_score: number;
  base_odds: number;
  pdo: number;
  factor: number;
  offset: number;
  min: number;
  max: number;
  cutoff: number;
}

export function makeScaling(
  baseScore = 600,
  baseOdds = 20,
  pdo = 40,
  min = 350,
  max = 950,
  cutoff = 550,
): Scaling {
  const factor = pdo / Math.LN2;
  return {
    base_score: baseScore,
    base_odds: baseOdds,
    pdo,
    factor,
    offset: baseScore - factor * Math.log(baseOdds),
    min,
    max,
    cutoff,
  };
}

export const defaultScaling: Scaling = makeScaling();

/** The unclamped, unrounded score of a log-odds of default (logit of p(bad)). */
export function rawScore(scaling: Scaling, logitBad: number): number {
  return scaling.offset - scaling.factor * logitBad;
}

/** The published score: rounded to an integer and clamped to [min, max]. */
export function clampScore(scaling: Scaling, raw: number): number {
  return Math.min(scaling.max, Math.max(scaling.min, Math.round(raw)));
}

/** The good:bad odds a score stands for (inverse of the scaling). */
export function oddsAt(scaling: Scaling, score: number): number {
  return Math.exp((score - scaling.offset) / scaling.factor);
}
