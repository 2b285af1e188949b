import { MilletError } from '../core/index.ts';
import type { GbtModel } from './gbt.ts';

/** A tree ensemble compiled for the model call. */
export interface CompiledTrees {
  /** The inputs `evaluate` reads: the caller writes input j at index j before each call. */
  x: number[];
  /**
   * The margin (log-odds of default) for the inputs in `x`; fills `contributions` with each input's
   * summed Saabas contribution. Allocates nothing.
   */
  evaluate: () => number;
  /** Per input (and a few spare slots after them), written by every `evaluate`: copy to keep. */
  contributions: readonly number[];
}

/**
 * Steps per generated function (trees × depth). 125 (25 trees of depth 5) measured as fast as 250;
 * at 500 V8 no longer optimised the function and the call ran interpreted, 40 times slower.
 */
const STEPS_PER_CHUNK = 125;
/** A complete tree of this depth has 4,096 leaves; deeper ones would make the padded tables huge. */
const MAX_DEPTH = 12;

/** An array V8 keeps as unboxed doubles: filled with 0.5 first, so it never starts as small integers. */
export function doubleArray(length: number, value: number): number[] {
  return Array.from({ length }, () => 0.5).fill(value);
}

const depthOf = (tree: GbtModel['trees'][number], node: number): number =>
  tree.feature[node]! < 0
    ? 0
    : 1 + Math.max(depthOf(tree, tree.left[node]!), depthOf(tree, tree.right[node]!));

/** A number as JS source that reads back to exactly the same double (thresholds only). */
function literal(value: number): string {
  if (Number.isNaN(value))
    throw new MilletError('CREDIT_ARTIFACT_INVALID', 'a tree split has no threshold (NaN)');
  return value === Infinity ? 'Infinity' : value === -Infinity ? '-Infinity' : String(value);
}

/**
 * Compiles the trees into JavaScript generated for this one ensemble (`new Function`), which is what
 * measured fastest on the two-core EPYC the benches run on (docs/ARCHITECTURE.md, credit):
 *  - every tree is padded to the ensemble's depth D as a complete binary tree in heap order
 *    (children of n at 2n+1, 2n+2); a padding split sends everything left (threshold +∞) and is
 *    credited to a spare slot of its level, so it adds 0 and never waits on a real input's sum;
 *  - a step is `n = 2n + 1 + (x[f] > t)`, a compare turned into 0 or 1 with no branch (the data's
 *    branches were unpredictable, and a ternary compiles to one); missing (NaN) compares false and
 *    goes left, as in training; the root's input and threshold are literals in the code;
 *  - the same step adds the Saabas delta of the child it reached (its value minus the split's,
 *    precomputed per heap node) to the margin and to the split's input, so the margin and every
 *    contribution are summed in exactly the order of walking the original trees one after
 *    another (bias first): bit-for-bit the plain walk's;
 *  - trees are spread over functions of about 125 steps, each one straight-line code.
 * Code generated per ensemble keeps each model's type feedback to itself: with one shared walk,
 * scoring the second model slowed the first. Only numbers from the artifact reach the source
 * (input indexes, node offsets and thresholds, each checked), never a string.
 * Measured against finding all leaves of a chunk first and then adding precomputed paths, this
 * was 15–20% cheaper (the input index is loaded once per step, not twice).
 */
export function compileTrees(gbt: GbtModel, inputs: number): CompiledTrees {
  const trees = gbt.trees;
  const depth = trees.reduce((d, t) => Math.max(d, depthOf(t, 0)), 0);
  if (depth > MAX_DEPTH)
    throw new MilletError('CREDIT_ARTIFACT_INVALID', `trees deeper than ${MAX_DEPTH} levels`, { depth });
  const inner = (1 << depth) - 1;
  const nodes = 2 * inner + 1;
  // Plain arrays, not typed ones: in the bench process V8 guards every typed-array access with a
  // detached-buffer check (tsx's transforms detach buffers, so the "never detached" protector is
  // gone), which cost 10–20% of the call; arrays of only small integers or only doubles are as
  // compact and skip it (doubleArray).
  // A padding split at level ℓ reads and credits the spare slot inputs + ℓ.
  const feature = Array.from(
    { length: trees.length * inner },
    (_, i) => inputs + Math.floor(Math.log2((i % inner) + 1)),
  );
  const threshold = doubleArray(trees.length * inner, Infinity);
  const gain = doubleArray(trees.length * nodes, 0);
  let bias = gbt.base;
  trees.forEach((tree, t) => {
    bias += tree.value[0]!;
    const place = (node: number, p: number, level: number): void => {
      if (level === depth) return;
      const f = tree.feature[node]!;
      if (f < 0) {
        place(node, 2 * p + 1, level + 1);
        return;
      }
      if (!Number.isInteger(f) || f >= inputs)
        throw new MilletError('CREDIT_ARTIFACT_INVALID', 'a tree splits on an unknown input', { f });
      literal(tree.threshold[node]!);
      feature[t * inner + p] = f;
      threshold[t * inner + p] = tree.threshold[node]!;
      const l = tree.left[node]!;
      const r = tree.right[node]!;
      gain[t * nodes + 2 * p + 1] = tree.value[l]! - tree.value[node]!;
      gain[t * nodes + 2 * p + 2] = tree.value[r]! - tree.value[node]!;
      place(l, 2 * p + 1, level + 1);
      place(r, 2 * p + 2, level + 1);
    };
    place(0, 0, 0);
  });

  const chunks: Array<(x: number[], L: number[], m: number) => number> = [];
  const perChunk = Math.max(1, Math.floor(STEPS_PER_CHUNK / Math.max(depth, 1)));
  for (let start = 0; start < trees.length && depth > 0; start += perChunk) {
    let steps = '';
    for (let t = start; t < Math.min(trees.length, start + perChunk); t++) {
      const b = t * inner;
      const g = t * nodes;
      const root = feature[b]!;
      steps += `n = 1 + ((x[${root}] > ${literal(threshold[b]!)}) | 0); d = G[${g} + n]; L[${root}] += d; m += d;`;
      for (let level = 1; level < depth; level++)
        steps += `f = F[${b} + n]; n = 2 * n + 1 + ((x[f] > T[${b} + n]) | 0); d = G[${g} + n]; L[f] += d; m += d;`;
    }
    const source = `return function creditTreesChunk(x, L, m) { let n, f, d; ${steps} return m; };`;
    chunks.push(new Function('F', 'T', 'G', source)(feature, threshold, gain));
  }
  // Spare slots after the inputs: padding reads them (any value: +∞ is never exceeded) and credits them.
  const x = doubleArray(inputs + depth, 0);
  const contributions = doubleArray(inputs + depth, 0);
  const calls = chunks.map((_, k) => `m = c${k}(x, L, m);`).join(' ');
  const evaluate = new Function(
    'x',
    'L',
    'bias',
    ...chunks.map((_, k) => `c${k}`),
    `return function () { for (let j = 0; j < L.length; j++) L[j] = 0; let m = bias; ${calls} return m; };`,
  )(x, contributions, bias, ...chunks) as CompiledTrees['evaluate'];
  return { x, evaluate, contributions };
}
