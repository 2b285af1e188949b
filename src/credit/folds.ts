import { seededRandom, shuffleInPlace } from './random.ts';

/**
 * Stratified k-fold assignment: goods and bads are each shuffled (seeded) and dealt round-robin, so
 * every fold has the data set's bad rate. Returns the fold index of each row.
 */
export function stratifiedFolds(y: Uint8Array, k: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  const fold = new Uint8Array(y.length);
  for (const label of [0, 1]) {
    const rows: number[] = [];
    for (let i = 0; i < y.length; i++) if (y[i] === label) rows.push(i);
    shuffleInPlace(rows, random);
    rows.forEach((row, i) => (fold[row] = i % k));
  }
  return fold;
}

/** Row indices in fold `k` (test) and not in it (train). */
export function splitFold(fold: Uint8Array, k: number): { train: Int32Array; test: Int32Array } {
  const train: number[] = [];
  const test: number[] = [];
  for (let i = 0; i < fold.length; i++) (fold[i] === k ? test : train).push(i);
  return { train: Int32Array.from(train), test: Int32Array.from(test) };
}
