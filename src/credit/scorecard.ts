import {
  assignBins,
  binCategorical,
  binCount,
  binCounts,
  binNumeric,
  defaultBinningOptions,
  type Binning,
  type BinningOptions,
} from './binning.ts';
import type { Frame, ModelSpec } from './datasets.ts';
import { fitLogistic } from './logistic.ts';
import { assertNoProtectedFields } from './protected.ts';
import type { Scaling } from './scaling.ts';
import { woeTable } from './woe.ts';

/**
 * The classic WoE scorecard: each characteristic binned (monotone merge), replaced by its bins'
 * weight of evidence, characteristics with too little information value dropped, then a logistic
 * regression (IRLS, L2) of default on the WoE values. A characteristic whose coefficient comes out
 * with the wrong sign (riskier bins scoring better, from collinearity) is dropped and the model
 * refitted. Points per bin = −factor × β × WoE, so a score is base points + one entry per row.
 */
export interface ScorecardOptions {
  binning: BinningOptions;
  /** Characteristics with a lower information value are not used. */
  minIv: number;
  l2: number;
}

export const defaultScorecardOptions: ScorecardOptions = {
  binning: defaultBinningOptions,
  minIv: 0.02,
  l2: 1,
};

export interface Characteristic {
  feature: string;
  binning: Binning;
  /** Per bin; the last entry is the missing bin. */
  woe: number[];
  points: number[];
  goods: number[];
  bads: number[];
  coefficient: number;
  iv: number;
}

export interface ScorecardModel {
  intercept: number;
  /** offset − factor × intercept: what an applicant starts from before any characteristic. */
  base_points: number;
  characteristics: Characteristic[];
  /** Every candidate characteristic's information value, and whether the model kept it. */
  iv_table: { feature: string; iv: number; used: boolean; note: string }[];
}

export function trainScorecard(
  spec: ModelSpec,
  frame: Frame,
  rows: Int32Array,
  scaling: Scaling,
  options: ScorecardOptions = defaultScorecardOptions,
): ScorecardModel {
  assertNoProtectedFields(spec.features.map((f) => f.name));
  const candidates = spec.features.map((f) => {
    const binning =
      f.kind === 'numeric'
        ? binNumeric(frame.numeric.get(f.name)!, frame.y, rows, options.binning)
        : binCategorical(frame.categorical.get(f.name)!, frame.y, rows, options.binning);
    const bins = assignBins(binning, (f.kind === 'numeric' ? frame.numeric : frame.categorical).get(f.name)!);
    const counts = binCounts(bins, frame.y, rows, binCount(binning));
    const table = woeTable(counts.goods, counts.bads);
    return { feature: f.name, binning, bins, counts, table };
  });
  const notes = new Map<string, string>();
  let used = candidates.filter((c) => {
    if (c.table.iv >= options.minIv) return true;
    notes.set(c.feature, `IV below ${options.minIv}`);
    return false;
  });
  const y = Uint8Array.from(rows, (i) => frame.y[i]!);
  for (;;) {
    const columns = used.map((c) => Float64Array.from(rows, (i) => c.table.rows[c.bins[i]!]!.woe));
    const fit = fitLogistic(columns, y, { l2: options.l2 });
    // With WoE = ln(good share / bad share), a sensible coefficient for P(bad) is negative.
    let worst = -1;
    fit.coefficients.forEach((b, j) => {
      if (b > 0 && (worst < 0 || b > fit.coefficients[worst]!)) worst = j;
    });
    if (worst >= 0) {
      notes.set(used[worst]!.feature, 'dropped: wrong-signed coefficient (collinear with others)');
      used = used.filter((_, j) => j !== worst);
      continue;
    }
    const characteristics = used.map((c, j): Characteristic => {
      const beta = fit.coefficients[j]!;
      const woe = c.table.rows.map((r) => r.woe);
      return {
        feature: c.feature,
        binning: c.binning,
        woe,
        points: woe.map((w) => -scaling.factor * beta * w),
        goods: c.counts.goods,
        bads: c.counts.bads,
        coefficient: beta,
        iv: c.table.iv,
      };
    });
    const usedNames = new Set(used.map((c) => c.feature));
    return {
      intercept: fit.intercept,
      base_points: scaling.offset - scaling.factor * fit.intercept,
      characteristics,
      iv_table: candidates
        .map((c) => ({
          feature: c.feature,
          iv: c.table.iv,
          used: usedNames.has(c.feature),
          note: notes.get(c.feature) ?? '',
        }))
        .sort((a, b) => b.iv - a.iv),
    };
  }
}

/** Log-odds of default of each of `rows`. */
export function scorecardMargins(model: ScorecardModel, frame: Frame, rows: Int32Array): Float64Array {
  const out = new Float64Array(rows.length).fill(model.intercept);
  for (const c of model.characteristics) {
    const column = (c.binning.kind === 'numeric' ? frame.numeric : frame.categorical).get(c.feature)!;
    const bins = assignBins(c.binning, column);
    rows.forEach((i, r) => (out[r] = out[r]! + c.coefficient * c.woe[bins[i]!]!));
  }
  return out;
}
