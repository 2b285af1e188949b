/** Seeded so folds, subsamples and therefore models are reproducible (mulberry32, in core). */
export { seededRandom } from '../core/index.ts';

export function shuffleInPlace<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
