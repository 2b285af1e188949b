import { seededRandom } from './random.ts';
import { sigmoid } from './logistic.ts';

/**
 * Gradient-boosted decision trees for the log-odds of default (logistic loss, Newton leaves).
 *  - histogram splits: each feature is cut once into at most `maxBins` value bins; a split is
 *    "bin ≤ b", found by one pass over per-bin gradient sums, so a level costs O(rows × features);
 *  - depth-limited trees grown level by level; L2 on leaf values (λ), minimum child hessian;
 *  - shrinkage (learning rate), row subsampling and feature subsampling per tree (seeded);
 *  - monotone constraints per feature (XGBoost's method): a split on a +1 feature needs
 *    left value ≤ right value and bounds both subtrees at the midpoint, so the whole ensemble's
 *    output can only rise with that feature (−1: only fall).
 * Missing values (NaN) sort below every value: they always go left.
 */
export interface GbtOptions {
  trees: number;
  learningRate: number;
  maxDepth: number;
  minChildWeight: number;
  l2: number;
  minGain: number;
  subsample: number;
  colsample: number;
  maxBins: number;
  seed: number;
}

export const defaultGbtOptions: GbtOptions = {
  trees: 400,
  learningRate: 0.05,
  maxDepth: 4,
  minChildWeight: 5,
  l2: 5,
  minGain: 0,
  subsample: 0.8,
  colsample: 0.8,
  maxBins: 64,
  seed: 7,
};

/** One tree, as parallel arrays over nodes (0 = root). feature −1 marks a leaf. x ≤ threshold goes left. */
export interface GbtTree {
  feature: number[];
  threshold: number[];
  left: number[];
  right: number[];
  /** The node's output (already times the learning rate): leaves score, inner nodes explain. */
  value: number[];
}

export interface GbtModel {
  /** Log-odds before any tree (the training bad rate's). */
  base: number;
  trees: GbtTree[];
}

interface Quantized {
  edges: Float64Array[];
  bins: Uint8Array[];
}

function quantize(columns: readonly Float64Array[], rows: Int32Array, maxBins: number): Quantized {
  const edges: Float64Array[] = [];
  const bins: Uint8Array[] = [];
  for (const column of columns) {
    const values = Float64Array.from(rows, (i) => column[i]!)
      .filter((v) => !Number.isNaN(v))
      .sort();
    const distinct: number[] = [];
    for (const v of values)
      if (distinct.length === 0 || v !== distinct[distinct.length - 1]) distinct.push(v);
    let cut: number[];
    if (distinct.length <= maxBins) cut = distinct;
    else {
      cut = [];
      for (let q = 1; q <= maxBins; q++) {
        const v = values[Math.min(values.length - 1, Math.ceil((q * values.length) / maxBins) - 1)]!;
        if (cut.length === 0 || v > cut[cut.length - 1]!) cut.push(v);
      }
    }
    const e = Float64Array.from(cut);
    edges.push(e);
    const b = new Uint8Array(column.length);
    for (let i = 0; i < column.length; i++) b[i] = binOf(e, column[i]!);
    bins.push(b);
  }
  return { edges, bins };
}

/** The first bin whose upper edge is ≥ x (values above every edge land in the last bin; NaN in bin 0). */
function binOf(edges: Float64Array, x: number): number {
  if (Number.isNaN(x)) return 0;
  let lo = 0;
  let hi = edges.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x <= edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

interface NodeWork {
  id: number;
  rows: Int32Array;
  depth: number;
  lo: number;
  hi: number;
}

const clamp = (w: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, w));
/** The loss change of a leaf with value w: G·w + ½(H + λ)w² (negative is better). */
const leafLoss = (g: number, h: number, w: number, l2: number): number => g * w + 0.5 * (h + l2) * w * w;

export interface GbtProgress {
  /** Called after each tree with the number of trees built. */
  onTree?: (trees: number) => void;
  /** Rows to follow during training: `onEval` gets their log-odds after every `evalEvery` trees. */
  evalRows?: Int32Array;
  evalEvery?: number;
  onEval?: (trees: number, margin: Float64Array) => void;
}

/**
 * Trains on `rows` of `columns` (column-major features, NaN = missing) with labels `y` (1 = bad).
 * `monotone[j]` ∈ {−1, 0, 1} constrains feature j.
 */
export function trainGbt(
  columns: readonly Float64Array[],
  y: ArrayLike<number>,
  rows: Int32Array,
  monotone: readonly number[],
  options: GbtOptions,
  progress: GbtProgress = {},
): GbtModel {
  const features = columns.length;
  const { edges, bins } = quantize(columns, rows, Math.min(options.maxBins, 256));
  const random = seededRandom(options.seed);
  let bads = 0;
  for (const i of rows) bads += y[i]!;
  const rate = Math.min(Math.max(bads / rows.length, 1e-6), 1 - 1e-6);
  const base = Math.log(rate / (1 - rate));
  const n = columns[0]?.length ?? 0;
  const margin = new Float64Array(n).fill(base);
  const grad = new Float64Array(n);
  const hess = new Float64Array(n);
  const histG = new Float64Array(features * 256);
  const histH = new Float64Array(features * 256);
  const trees: GbtTree[] = [];
  const evalRows = progress.evalRows;
  const evalMargin = evalRows ? new Float64Array(evalRows.length).fill(base) : undefined;
  const l2 = options.l2;

  for (let t = 0; t < options.trees; t++) {
    for (const i of rows) {
      const p = sigmoid(margin[i]!);
      grad[i] = p - y[i]!;
      hess[i] = Math.max(p * (1 - p), 1e-16);
    }
    const sample = options.subsample < 1 ? rows.filter(() => random() < options.subsample) : rows;
    const allowed: number[] = [];
    for (let f = 0; f < features; f++)
      if (options.colsample >= 1 || random() < options.colsample) allowed.push(f);
    if (allowed.length === 0) allowed.push(Math.floor(random() * features));

    const tree: GbtTree = { feature: [], threshold: [], left: [], right: [], value: [] };
    const splitBin: number[] = [];
    const addNode = (): number => {
      tree.feature.push(-1);
      tree.threshold.push(0);
      tree.left.push(-1);
      tree.right.push(-1);
      tree.value.push(0);
      splitBin.push(0);
      return tree.feature.length - 1;
    };
    const queue: NodeWork[] = [{ id: addNode(), rows: sample, depth: 0, lo: -Infinity, hi: Infinity }];
    while (queue.length > 0) {
      const node = queue.shift()!;
      let G = 0;
      let H = 0;
      for (const i of node.rows) {
        G += grad[i]!;
        H += hess[i]!;
      }
      const w = clamp(-G / (H + l2), node.lo, node.hi);
      tree.value[node.id] = w * options.learningRate;
      if (node.depth >= options.maxDepth || H < 2 * options.minChildWeight) continue;

      histG.fill(0);
      histH.fill(0);
      for (const f of allowed) {
        const b = bins[f]!;
        const off = f * 256;
        const nodeRows = node.rows;
        for (let r = 0; r < nodeRows.length; r++) {
          const i = nodeRows[r]!;
          const k = off + b[i]!;
          histG[k] = histG[k]! + grad[i]!;
          histH[k] = histH[k]! + hess[i]!;
        }
      }
      const parentLoss = leafLoss(G, H, w, l2);
      let bestGain = options.minGain;
      let bestF = -1;
      let bestB = -1;
      let bestWL = 0;
      let bestWR = 0;
      for (const f of allowed) {
        const off = f * 256;
        const nb = edges[f]!.length;
        const mono = monotone[f] ?? 0;
        let gl = 0;
        let hl = 0;
        for (let b = 0; b < nb - 1; b++) {
          gl += histG[off + b]!;
          hl += histH[off + b]!;
          if (hl < options.minChildWeight) continue;
          const hr = H - hl;
          if (hr < options.minChildWeight) break;
          const gr = G - gl;
          const wl = clamp(-gl / (hl + l2), node.lo, node.hi);
          const wr = clamp(-gr / (hr + l2), node.lo, node.hi);
          if ((mono > 0 && wl > wr) || (mono < 0 && wl < wr)) continue;
          const gain = parentLoss - leafLoss(gl, hl, wl, l2) - leafLoss(gr, hr, wr, l2);
          if (gain > bestGain) {
            bestGain = gain;
            bestF = f;
            bestB = b;
            bestWL = wl;
            bestWR = wr;
          }
        }
      }
      if (bestF < 0) continue;
      const b = bins[bestF]!;
      const leftRows = node.rows.filter((i) => b[i]! <= bestB);
      const rightRows = node.rows.filter((i) => b[i]! > bestB);
      const left = addNode();
      const right = addNode();
      tree.feature[node.id] = bestF;
      tree.threshold[node.id] = edges[bestF]![bestB]!;
      splitBin[node.id] = bestB;
      tree.left[node.id] = left;
      tree.right[node.id] = right;
      let { lo: llo, hi: lhi } = node;
      let { lo: rlo, hi: rhi } = node;
      const mono = monotone[bestF] ?? 0;
      const mid = (bestWL + bestWR) / 2;
      if (mono > 0) {
        lhi = Math.min(lhi, mid);
        rlo = Math.max(rlo, mid);
      } else if (mono < 0) {
        llo = Math.max(llo, mid);
        rhi = Math.min(rhi, mid);
      }
      queue.push({ id: left, rows: leftRows, depth: node.depth + 1, lo: llo, hi: lhi });
      queue.push({ id: right, rows: rightRows, depth: node.depth + 1, lo: rlo, hi: rhi });
    }
    trees.push(tree);
    // Every training row (sampled or not) moves by the leaf it falls in.
    for (const i of rows) {
      let node = 0;
      while (tree.feature[node]! >= 0)
        node = bins[tree.feature[node]!]![i]! <= splitBin[node]! ? tree.left[node]! : tree.right[node]!;
      margin[i] = margin[i]! + tree.value[node]!;
    }
    if (evalRows && evalMargin) {
      for (let r = 0; r < evalRows.length; r++)
        evalMargin[r] = evalMargin[r]! + treeValue(tree, columns, evalRows[r]!);
      const every = progress.evalEvery ?? 25;
      if ((t + 1) % every === 0 || t + 1 === options.trees) progress.onEval?.(t + 1, evalMargin);
    }
    progress.onTree?.(t + 1);
  }
  return { base, trees };
}

function treeValue(tree: GbtTree, columns: readonly Float64Array[], i: number): number {
  let node = 0;
  while (tree.feature[node]! >= 0) {
    const x = columns[tree.feature[node]!]![i]!;
    node = x <= tree.threshold[node]! || Number.isNaN(x) ? tree.left[node]! : tree.right[node]!;
  }
  return tree.value[node]!;
}

/** Log-odds of default for row `i` of column-major `columns`. */
export function gbtMargin(model: GbtModel, columns: readonly Float64Array[], i: number): number {
  let m = model.base;
  for (const tree of model.trees) m += treeValue(tree, columns, i);
  return m;
}

/**
 * Per-feature contributions to the log-odds (path attribution, Saabas): walking each tree, the
 * change in node value at a split is credited to the split's feature. They add up exactly:
 * margin = bias + Σ contributions, bias = base + Σ root values. Returns the margin.
 */
export function gbtContributions(model: GbtModel, x: ArrayLike<number>, out: Float64Array): number {
  out.fill(0);
  let m = model.base;
  for (const tree of model.trees) {
    let node = 0;
    m += tree.value[0]!;
    while (tree.feature[node]! >= 0) {
      const f = tree.feature[node]!;
      const v = x[f]!;
      const next = v <= tree.threshold[node]! || Number.isNaN(v) ? tree.left[node]! : tree.right[node]!;
      const delta = tree.value[next]! - tree.value[node]!;
      out[f] = out[f]! + delta;
      m += delta;
      node = next;
    }
  }
  return m;
}
