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
 * Path steps per generated function (trees × depth): a function much bigger than 25 trees of
 * depth 5 can exceed what V8 will optimise, and then runs interpreted, 40 times slower.
 */
const STEPS_PER_CHUNK = 125;
/** A complete tree of this depth has 4,096 leaves; deeper ones would make the tables huge. */
const MAX_DEPTH = 12;

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
 *    (children of n at 2n+1, 2n+2); a padding split sends everything left (threshold +∞);
 *  - a step is `n = 2n + 1 + (x[f] > t)`, a compare turned into 0 or 1 with no branch (the data's
 *    branches were unpredictable, and a ternary compiles to one); missing (NaN) compares false and
 *    goes left, as in training; the root's feature and threshold are literals in the code;
 *  - each generated function first finds the leaves of its 25 trees (independent work the CPU can
 *    overlap), then adds each leaf's path, precomputed as D (input, Saabas delta) pairs: the change
 *    in node value at each split, credited to the split's input. Padding steps add 0 to a spare
 *    slot of their own, so they never wait on a real input's sum;
 *  - the margin and each input's contribution are summed in exactly the order of walking the
 *    original trees one after another (bias first), so they are bit-for-bit the plain walk's.
 * Code generated per ensemble keeps each model's type feedback to itself: with one shared walk,
 * scoring the second model slowed the first. Only numbers from the artifact reach the source
 * (feature indices and thresholds, each checked to be a number), never a string.
 */
export function compileTrees(gbt: GbtModel, inputs: number): CompiledTrees {
  const trees = gbt.trees;
  const depth = trees.reduce((d, t) => Math.max(d, depthOf(t, 0)), 0);
  if (depth > MAX_DEPTH)
    throw new MilletError('CREDIT_ARTIFACT_INVALID', `trees deeper than ${MAX_DEPTH} levels`, { depth });
  const inner = (1 << depth) - 1;
  const leaves = 1 << depth;
  // Plain arrays, not typed ones: in the bench process V8 guards every typed-array access with a
  // detached-buffer check (its "no buffer was ever detached" protector is gone there), which cost
  // 10–20% of the call; arrays of only small integers or only doubles are as compact and skip it.
  const filled = (length: number, value: number): number[] => Array.from({ length }, () => value);
  const feature = filled(trees.length * inner, 0);
  const threshold = filled(trees.length * inner, Infinity);
  // Path of leaf L of tree t at ((t · leaves) + L) · D: input index (or a spare slot) and delta.
  const spare = (i: number) => inputs + (i % Math.max(depth, 1));
  const pathInput = Array.from({ length: trees.length * leaves * depth }, (_, i) => spare(i));
  const pathDelta = filled(trees.length * leaves * depth, 0.5);
  for (let i = 0; i < pathDelta.length; i++) pathDelta[i] = 0; // 0.5 first: double elements, not small integers
  let bias = gbt.base;
  trees.forEach((tree, t) => {
    bias += tree.value[0]!;
    const place = (node: number, p: number, level: number): void => {
      if (level === depth) return;
      const f = tree.feature[node]!;
      if (f < 0) {
        // Padding: left all the way down; the leaf's path keeps the spare slots and zero deltas.
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
      // Every leaf under this split carries the split's delta at this level of its path.
      const mark = (child: number, q: number): void => {
        const span = 1 << (depth - level - 1);
        const first = (q + 1) * span - leaves; // leftmost leaf under heap node q at level+1
        for (let leaf = first; leaf < first + span; leaf++) {
          const at = (t * leaves + leaf) * depth + level;
          pathInput[at] = f;
          pathDelta[at] = tree.value[child]! - tree.value[node]!;
        }
      };
      mark(l, 2 * p + 1);
      mark(r, 2 * p + 2);
      place(l, 2 * p + 1, level + 1);
      place(r, 2 * p + 2, level + 1);
    };
    place(0, 0, 0);
  });

  const chunks: Array<(x: number[], L: number[], m: number) => number> = [];
  const perChunk = Math.max(1, Math.floor(STEPS_PER_CHUNK / Math.max(depth, 1)));
  for (let start = 0; start < trees.length; start += perChunk) {
    const end = Math.min(trees.length, start + perChunk);
    let find = '';
    let add = '';
    for (let t = start; t < end; t++) {
      const b = t * inner;
      if (depth === 0) find += `const n${t} = 0;`;
      else find += `let n${t} = 1 + ((x[${feature[b]}] > ${literal(threshold[b]!)}) | 0);`;
      for (let level = 1; level < depth; level++)
        find += `i = ${b} + n${t}; n${t} = 2 * n${t} + 1 + ((x[F[i]] > T[i]) | 0);`;
      // Heap index of a leaf is inner + leaf: its path starts at ((t · leaves) + n − inner) · D.
      add += `p = ${(t * leaves - inner) * depth} + n${t} * ${depth};`;
      for (let s = 0; s < depth; s++) add += `d = PD[p + ${s}]; L[PI[p + ${s}]] += d; m += d;`;
    }
    const source = `return function creditTreesChunk(x, L, m) { let i, p, d; ${find} ${add} return m; };`;
    chunks.push(new Function('F', 'T', 'PI', 'PD', source)(feature, threshold, pathInput, pathDelta));
  }
  const contributions = filled(inputs + Math.max(depth, 1), 0.5);
  const x = filled(inputs, 0.5);
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
