import type { GbtModel } from '../../src/credit/gbt.ts';

/**
 * The reference every compiled form of the trees must match bit for bit: each tree walked node by
 * node, one after another (x ≤ threshold or missing goes left), the change in node value at each
 * step credited to the split's input; the margin starts from the base plus every root's value.
 * Not gbt.ts's gbtContributions, which adds each root's value as it reaches the tree: a different
 * order of additions, so sums that may differ in the last bit.
 */
export function plainWalk(gbt: GbtModel, x: readonly number[]): { margin: number; contributions: number[] } {
  const contributions = x.map(() => 0);
  let margin = gbt.base;
  for (const tree of gbt.trees) margin += tree.value[0]!;
  for (const tree of gbt.trees) {
    let node = 0;
    while (tree.feature[node]! >= 0) {
      const f = tree.feature[node]!;
      const v = x[f]!;
      const next = v <= tree.threshold[node]! || Number.isNaN(v) ? tree.left[node]! : tree.right[node]!;
      const delta = tree.value[next]! - tree.value[node]!;
      contributions[f] = contributions[f]! + delta;
      margin += delta;
      node = next;
    }
  }
  return { margin, contributions };
}
