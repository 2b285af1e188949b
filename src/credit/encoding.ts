import type { FeatureSpec, Frame } from './datasets.ts';
import { parseCategory, parseNumber } from './datasets.ts';

/**
 * How the trees see each input: numbers as they are; an ordinal category (PAY_n) as its number; any
 * other category as its rank by training bad rate (labels listed safest first; an unseen label is
 * missing, NaN, which sorts below every value).
 */
export type TreeEncoding = { kind: 'number' } | { kind: 'rank'; labels: string[] };

export function treeEncodings(
  features: readonly FeatureSpec[],
  frame: Frame,
  rows: Int32Array,
): TreeEncoding[] {
  return features.map((f): TreeEncoding => {
    if (f.kind === 'numeric' || f.ordinal) return { kind: 'number' };
    const x = frame.categorical.get(f.name)!;
    const counts = new Map<string, { n: number; bads: number }>();
    for (const i of rows) {
      const label = x[i];
      if (label === null || label === undefined) continue;
      const c = counts.get(label) ?? { n: 0, bads: 0 };
      c.n++;
      c.bads += frame.y[i]!;
      counts.set(label, c);
    }
    let bads = 0;
    for (const i of rows) bads += frame.y[i]!;
    const prior = bads / rows.length;
    // Bad rate shrunk towards the average (10 pseudo-rows), so a rare label is not ranked on noise.
    const smoothed = (c: { n: number; bads: number }) => (c.bads + 10 * prior) / (c.n + 10);
    const labels = [...counts.entries()]
      .sort((a, b) => smoothed(a[1]) - smoothed(b[1]) || a[0].localeCompare(b[0]))
      .map(([label]) => label);
    return { kind: 'rank', labels };
  });
}

/** Column-major numeric matrix for the trees. */
export function encodeColumns(
  features: readonly FeatureSpec[],
  encodings: readonly TreeEncoding[],
  frame: Frame,
): Float64Array[] {
  return features.map((f, j) => {
    const e = encodings[j]!;
    if (f.kind === 'numeric') return frame.numeric.get(f.name)!;
    const x = frame.categorical.get(f.name)!;
    if (e.kind === 'number') return Float64Array.from(x, (v) => parseNumber(v));
    const rank = new Map(e.labels.map((label, r) => [label, r]));
    return Float64Array.from(x, (v) => (v === null ? NaN : (rank.get(v) ?? NaN)));
  });
}

/** One input value as the trees see it. */
export function encodeValue(e: TreeEncoding, value: unknown, rank?: Map<string, number>): number {
  if (e.kind === 'number') return parseNumber(value);
  const label = parseCategory(value);
  return label === null ? NaN : (rank?.get(label) ?? NaN);
}

/**
 * `encodeValue` for a rank-encoded input, with the labels' ranks by label: a raw string that is a
 * label as it stands (labels are trimmed) is looked up without being copied or trimmed first.
 */
export function encodeRank(e: TreeEncoding, rank: Map<string, number>, value: unknown): number {
  if (typeof value === 'string') {
    const r = rank.get(value);
    if (r !== undefined) return r;
  }
  return encodeValue(e, value, rank);
}
