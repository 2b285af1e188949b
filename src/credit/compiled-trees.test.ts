import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileTrees } from './compiled-trees.ts';
import type { GbtTree } from './gbt.ts';
import { plainWalk } from '../../test/support/tree-walk.ts';

const INPUTS = 4;
/** Thresholds and inputs both draw from these, so inputs equal to a threshold are common. */
const edges = fc.constantFrom(-1, 0, 0.5, 2);

/** A random tree as gbt.ts stores it (parallel arrays, node 0 the root), of depth ≤ maxDepth. */
const tree = (maxDepth: number): fc.Arbitrary<GbtTree> =>
  fc
    .array(
      fc.tuple(
        fc.integer({ min: 0, max: INPUTS - 1 }),
        fc.oneof(edges, fc.double({ noNaN: true, min: -5, max: 5 })),
        fc.double({ noNaN: true, min: -1, max: 1 }),
      ),
      { minLength: 64, maxLength: 64 },
    )
    .chain((draws) =>
      fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }).map((splits) => {
        const t: GbtTree = { feature: [], threshold: [], left: [], right: [], value: [] };
        const grow = (level: number): number => {
          const id = t.feature.length;
          const [f, threshold, value] = draws[id % 64]!;
          t.feature.push(-1);
          t.threshold.push(0);
          t.left.push(-1);
          t.right.push(-1);
          t.value.push(value);
          if (level < maxDepth && splits[id % 64]) {
            t.feature[id] = f;
            t.threshold[id] = threshold;
            t.left[id] = grow(level + 1);
            t.right[id] = grow(level + 1);
          }
          return id;
        };
        grow(0);
        return t;
      }),
    );

describe('compileTrees', () => {
  it('gives the plain walk’s margin and contributions bit for bit, trees of mixed depth, single leaves, missing inputs', () => {
    const ensemble = fc.record({
      base: fc.double({ noNaN: true, min: -3, max: 3 }),
      trees: fc.array(tree(4), { minLength: 1, maxLength: 40 }),
    });
    const value = fc.oneof(
      edges,
      fc.double({ noNaN: true, min: -6, max: 6 }),
      fc.constant(NaN),
      fc.constantFrom(-Infinity, Infinity),
    );
    fc.assert(
      fc.property(
        ensemble,
        fc.array(fc.array(value, { minLength: INPUTS, maxLength: INPUTS }), { minLength: 1, maxLength: 5 }),
        (gbt, rows) => {
          const compiled = compileTrees(gbt, INPUTS);
          for (const row of rows) {
            row.forEach((v, j) => (compiled.x[j] = v));
            const margin = compiled.evaluate();
            const expected = plainWalk(gbt, row);
            expect(Object.is(margin, expected.margin)).toBe(true);
            expect(compiled.contributions.slice(0, INPUTS)).toEqual(expected.contributions);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
