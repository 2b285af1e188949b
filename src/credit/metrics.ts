/**
 * Discrimination, calibration and stability metrics. `risk` is anything that grows with the chance
 * of default (a probability, a log-odds, or minus a score); `y` is 1 for a bad (defaulted) account.
 */

/** Area under the ROC curve (Mann–Whitney U, ties counted half). */
export function auc(risk: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = risk.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => risk[a]! - risk[b]!);
  let bads = 0;
  let rankSum = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && risk[order[j + 1]!] === risk[order[i]!]) j++;
    const midRank = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++)
      if (y[order[t]!] === 1) {
        bads++;
        rankSum += midRank;
      }
    i = j + 1;
  }
  const goods = n - bads;
  if (bads === 0 || goods === 0) return NaN;
  return (rankSum - (bads * (bads + 1)) / 2) / (bads * goods);
}

export const gini = (areaUnderCurve: number): number => 2 * areaUnderCurve - 1;

export interface RocPoint {
  fpr: number;
  tpr: number;
}

/** The ROC curve (bads caught against goods caught, from the riskiest down), one point per distinct value. */
export function rocCurve(risk: ArrayLike<number>, y: ArrayLike<number>): RocPoint[] {
  const n = risk.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => risk[b]! - risk[a]!);
  let bads = 0;
  for (let i = 0; i < n; i++) bads += y[i] === 1 ? 1 : 0;
  const goods = n - bads;
  const points: RocPoint[] = [{ fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < n; i++) {
    if (y[order[i]!] === 1) tp++;
    else fp++;
    if (i === n - 1 || risk[order[i + 1]!] !== risk[order[i]!])
      points.push({ fpr: fp / goods, tpr: tp / bads });
  }
  return points;
}

/** Kolmogorov–Smirnov: the largest gap between the cumulative distributions of bads and goods. */
export function ks(risk: ArrayLike<number>, y: ArrayLike<number>): number {
  let best = 0;
  for (const p of rocCurve(risk, y)) best = Math.max(best, p.tpr - p.fpr);
  return best;
}

export interface LiftRow {
  group: number;
  count: number;
  bads: number;
  bad_rate: number;
  cumulative_bads_share: number;
  lift: number;
}

/** Rows in `groups` equal-count groups from the riskiest down, with bad rate and lift over the average. */
export function liftTable(risk: ArrayLike<number>, y: ArrayLike<number>, groups = 10): LiftRow[] {
  const n = risk.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => risk[b]! - risk[a]!);
  let totalBads = 0;
  for (let i = 0; i < n; i++) totalBads += y[i] === 1 ? 1 : 0;
  const average = totalBads / n;
  const rows: LiftRow[] = [];
  let cumulative = 0;
  for (let g = 0; g < groups; g++) {
    const from = Math.floor((g * n) / groups);
    const to = Math.floor(((g + 1) * n) / groups);
    let bads = 0;
    for (let i = from; i < to; i++) bads += y[order[i]!] === 1 ? 1 : 0;
    cumulative += bads;
    const count = to - from;
    const badRate = count > 0 ? bads / count : 0;
    rows.push({
      group: g + 1,
      count,
      bads,
      bad_rate: badRate,
      cumulative_bads_share: totalBads > 0 ? cumulative / totalBads : 0,
      lift: average > 0 ? badRate / average : 0,
    });
  }
  return rows;
}

export interface CalibrationRow {
  count: number;
  predicted: number;
  observed: number;
}

/** Mean predicted probability against the observed bad rate in equal-count groups of the prediction. */
export function calibrationTable(probability: ArrayLike<number>, y: ArrayLike<number>, groups = 10) {
  const n = probability.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => probability[a]! - probability[b]!);
  const rows: CalibrationRow[] = [];
  for (let g = 0; g < groups; g++) {
    const from = Math.floor((g * n) / groups);
    const to = Math.floor(((g + 1) * n) / groups);
    let p = 0;
    let bads = 0;
    for (let i = from; i < to; i++) {
      p += probability[order[i]!]!;
      bads += y[order[i]!] === 1 ? 1 : 0;
    }
    const count = to - from;
    if (count > 0) rows.push({ count, predicted: p / count, observed: bads / count });
  }
  return rows;
}

/**
 * Population stability index of `actual` against `expected`, over bins cut at the deciles of
 * `expected` (or the given edges). < 0.1 stable, 0.1–0.25 watch, > 0.25 act.
 */
export function psi(expected: ArrayLike<number>, actual: ArrayLike<number>, edges?: number[]): number {
  const cuts = edges ?? decileEdges(expected);
  const share = (values: ArrayLike<number>): number[] => {
    const counts = new Array<number>(cuts.length + 1).fill(0);
    for (let i = 0; i < values.length; i++) {
      let b = 0;
      while (b < cuts.length && values[i]! >= cuts[b]!) b++;
      counts[b]!++;
    }
    return counts.map((c) => Math.max(c / values.length, 1e-4));
  };
  const e = share(expected);
  const a = share(actual);
  let total = 0;
  for (let b = 0; b < e.length; b++) total += (a[b]! - e[b]!) * Math.log(a[b]! / e[b]!);
  return total;
}

export function decileEdges(values: ArrayLike<number>): number[] {
  const sorted = Float64Array.from(values).sort();
  const edges: number[] = [];
  for (let d = 1; d < 10; d++) {
    const v = sorted[Math.floor((d * sorted.length) / 10)]!;
    if (edges.length === 0 || v > edges[edges.length - 1]!) edges.push(v);
  }
  return edges;
}
