import type { CreditArtifact, ModelInput } from './artifact.ts';
import { categoryLookup, numericBin } from './binning.ts';
import { modelSpec, parseCategory, parseNumber, type FeatureSpec } from './datasets.ts';
import { encodeValue } from './encoding.ts';
import type { GbtModel } from './gbt.ts';
import { sigmoid } from './logistic.ts';
import { clampScore } from './scaling.ts';

export interface ReasonCode {
  feature: string;
  code: string;
  /** Points this characteristic costs against its best bin (scorecard) or best contribution (trees). */
  points_lost: number;
  text_en: string;
  text_zh: string;
}

export interface ScoreResult {
  /** 350–950, higher is safer. */
  score: number;
  /** The model's probability of default. */
  probability: number;
  /** The four characteristics that cost the most points, most first. */
  reasons: ReasonCode[];
}

/** An applicant's raw values by column name, as in the data set (strings or numbers; missing allowed). */
export type ApplicantFeatures = Readonly<Record<string, unknown>>;

export const REASON_COUNT = 4;

interface Compiled {
  inputs: ModelInput[];
  specs: FeatureSpec[];
  /** Value of input j from a record: a number (numeric, encoded) or a bin index. */
  contribution: (features: ApplicantFeatures, lost: Float64Array) => number;
  factor: number;
  offset: number;
  /** Scratch buffers reused by every call (scoring is synchronous, so calls never overlap). */
  lost: Float64Array;
  taken: Uint8Array;
}

const cache = new WeakMap<CreditArtifact, Compiled>();

function numericInput(spec: FeatureSpec): (features: ApplicantFeatures) => number {
  if (spec.derive) {
    const from = spec.from!;
    const values = new Array<number>(from.length);
    return (features) => {
      for (let k = 0; k < from.length; k++) values[k] = parseNumber(features[from[k]!]);
      return spec.derive!(values);
    };
  }
  return (features) => parseNumber(features[spec.name]);
}

function compile(artifact: CreditArtifact): Omit<Compiled, 'lost' | 'taken'> {
  const model = modelSpec(artifact.model);
  const byName = new Map(model.features.map((f) => [f.name, f]));
  const specs = artifact.inputs.map((input) => byName.get(input.name)!);
  const { factor, offset } = artifact.scaling;
  const m = artifact.inputs.length;
  if (artifact.learner === 'scorecard') {
    const card = artifact.scorecard!;
    const index = new Map(artifact.inputs.map((input, j) => [input.name, j]));
    const parts = card.characteristics.map((c) => {
      const spec = byName.get(c.feature)!;
      const points = Float64Array.from(c.points);
      const best = Math.max(...c.points);
      const j = index.get(c.feature)!;
      let bin: (features: ApplicantFeatures) => number;
      if (c.binning.kind === 'numeric') {
        const cuts = c.binning.cuts;
        const value = numericInput(spec);
        bin = (features) => numericBin(cuts, value(features));
      } else {
        const lookup = categoryLookup(c.binning.groups);
        const missing = c.binning.groups.length;
        bin = (features) => lookup.get(parseCategory(features[c.feature]) ?? '') ?? missing;
      }
      return { j, points, best, bin };
    });
    return {
      inputs: artifact.inputs,
      specs,
      factor,
      offset,
      contribution: (features, lost) => {
        lost.fill(-1);
        let score = card.base_points;
        for (const p of parts) {
          const pts = p.points[p.bin(features)]!;
          score += pts;
          lost[p.j] = p.best - pts;
        }
        return score;
      },
    };
  }
  const gbt = artifact.gbt!;
  const walk = compileTrees(gbt, m);
  const readers = specs.map((spec, j) => {
    const e = gbt.encodings[j]!;
    if (spec.kind === 'numeric') return numericInput(spec);
    const rank = e.kind === 'rank' ? new Map(e.labels.map((label, r) => [label, r])) : undefined;
    return (features: ApplicantFeatures) => encodeValue(e, features[spec.name], rank);
  });
  const x = new Float64Array(m);
  const best = Float64Array.from(gbt.best_contribution);
  return {
    inputs: artifact.inputs,
    specs,
    factor,
    offset,
    contribution: (features, lost) => {
      for (let j = 0; j < m; j++) x[j] = readers[j]!(features);
      const margin = walk(x, lost);
      for (let j = 0; j < m; j++) lost[j] = Math.max(0, factor * (lost[j]! - best[j]!));
      return offset - factor * margin;
    },
  };
}

const depthOf = (tree: GbtModel['trees'][number], node: number): number =>
  tree.feature[node]! < 0
    ? 0
    : 1 + Math.max(depthOf(tree, tree.left[node]!), depthOf(tree, tree.right[node]!));

/**
 * The trees compiled for a walk with no data-dependent branch, which is what the model call's time
 * goes to (branch mispredictions, one per split, were most of it):
 *  - each input is first turned into its rank among the distinct thresholds the trees split it at
 *    (how many are below it; missing ranks 0), so "x ≤ threshold k" becomes the integer test
 *    rank ≤ k, done with a shift instead of a branch; missing goes left as before (0 ≤ k);
 *  - every tree is padded to the ensemble's depth D as a complete binary tree in heap order
 *    (children of n at 2n+1, 2n+2), so every walk is exactly D steps; a padding split sends
 *    everything left (k = 0xffff) and adds exactly 0, so sums are bit-for-bit those of the plain walk;
 *  - nodes are (feature, k) pairs in one Uint16Array; what reaching a node adds to the margin sits
 *    in a Float64Array by the same heap index.
 * The margin and the per-feature contributions are accumulated in the same order as walking the
 * original trees one after another (bias first), so the results are identical, not just close.
 * Returns (x, lost) → margin, filling lost with each input's summed contribution; no allocation.
 */
export function compileTrees(gbt: GbtModel, inputs: number): (x: Float64Array, lost: Float64Array) => number {
  const trees = gbt.trees;
  const depth = trees.reduce((d, t) => Math.max(d, depthOf(t, 0)), 0);
  const inner = (1 << depth) - 1;
  const stride = (1 << (depth + 1)) - 1;
  const thresholds: number[][] = Array.from({ length: inputs }, () => []);
  for (const t of trees)
    t.feature.forEach((f, i) => {
      if (f >= 0) thresholds[f]!.push(t.threshold[i]!);
    });
  const cuts = thresholds.map((list) => Float64Array.from(new Set(list)).sort());
  const cutIndex = cuts.map((c) => new Map(Array.from(c, (v, k) => [v, k])));
  if (cuts.some((c) => c.length >= 0xffff) || inputs > 0xffff)
    throw new Error('a tree ensemble too large for 16-bit nodes');
  const nodes = new Uint16Array(trees.length * inner * 2);
  const gain = new Float64Array(trees.length * stride);
  let bias = gbt.base;
  trees.forEach((t, k) => {
    bias += t.value[0]!;
    const at = k * inner;
    for (let p = 0; p < inner; p++) nodes[2 * (at + p) + 1] = 0xffff;
    const place = (node: number, p: number): void => {
      const f = t.feature[node]!;
      if (f < 0) return;
      nodes[2 * (at + p)] = f;
      nodes[2 * (at + p) + 1] = cutIndex[f]!.get(t.threshold[node]!)!;
      const l = t.left[node]!;
      const r = t.right[node]!;
      gain[k * stride + 2 * p + 1] = t.value[l]! - t.value[node]!;
      gain[k * stride + 2 * p + 2] = t.value[r]! - t.value[node]!;
      place(l, 2 * p + 1);
      place(r, 2 * p + 2);
    };
    place(0, 0);
  });
  const rank = new Int32Array(inputs);
  const count = trees.length;
  return (x, lost) => {
    for (let j = 0; j < inputs; j++) {
      const c = cuts[j]!;
      const v = x[j]!;
      let lo = 0;
      let hi = c.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (c[mid]! < v) lo = mid + 1;
        else hi = mid;
      }
      rank[j] = lo;
    }
    lost.fill(0);
    let margin = bias;
    for (let k = 0, b = 0, g = 0; k < count; k++, b += 2 * inner, g += stride) {
      let n = 0;
      for (let d = 0; d < depth; d++) {
        const i = b + 2 * n;
        const f = nodes[i]!;
        // rank > k ⇔ k − rank < 0 ⇔ sign bit set: right child (2n+2), else left (2n+1).
        n = 2 * n + 1 - ((nodes[i + 1]! - rank[f]!) >> 31);
        const delta = gain[g + n]!;
        lost[f] = lost[f]! + delta;
        margin += delta;
      }
    }
    return margin;
  };
}

function compiled(artifact: CreditArtifact): Compiled {
  let c = cache.get(artifact);
  if (!c) {
    const parts = compile(artifact);
    const m = parts.inputs.length;
    cache.set(artifact, (c = { ...parts, lost: new Float64Array(m), taken: new Uint8Array(m) }));
  }
  return c;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/**
 * Scores one applicant: the 350–950 score, the probability of default and the top four reason codes
 * (characteristics by points lost, most first; ties by input order). The first call compiles the
 * artifact (cached per artifact object); later calls allocate only the result.
 */
export function scoreApplicant(artifact: CreditArtifact, features: ApplicantFeatures): ScoreResult {
  const c = compiled(artifact);
  const { lost, taken } = c;
  const raw = c.contribution(features, lost);
  const probability = sigmoid((c.offset - raw) / c.factor);
  const reasons: ReasonCode[] = [];
  taken.fill(0);
  for (let r = 0; r < REASON_COUNT; r++) {
    let pick = -1;
    for (let j = 0; j < lost.length; j++)
      if (!taken[j] && lost[j]! >= 0 && (pick < 0 || lost[j]! > lost[pick]!)) pick = j;
    if (pick < 0) break;
    taken[pick] = 1;
    const input = c.inputs[pick]!;
    reasons.push({
      feature: input.name,
      code: input.code,
      points_lost: Math.max(0, round1(lost[pick]!)),
      text_en: input.text_en,
      text_zh: input.text_zh,
    });
  }
  return { score: clampScore(artifactScaling(artifact), raw), probability, reasons };
}

const artifactScaling = (artifact: CreditArtifact) => artifact.scaling;
