import { woeTable } from './woe.ts';

/**
 * How a characteristic is cut into bins. Numeric: bin i holds cuts[i−1] ≤ x < cuts[i] (the first bin
 * everything below cuts[0], the last everything from the last cut up). Categorical: each group is a
 * list of category labels. Either way one more bin, index `binCount`, holds missing values (and, for
 * categories, labels never seen in training); its WoE is 0 (the average) unless training had some.
 */
export type Binning = { kind: 'numeric'; cuts: number[] } | { kind: 'categorical'; groups: string[][] };

export interface BinningOptions {
  /** Initial fine bins (quantiles) before merging. */
  fineBins: number;
  /** The smallest share of rows a bin may hold; smaller bins merge into a neighbour. */
  minBinShare: number;
}

export const defaultBinningOptions: BinningOptions = { fineBins: 20, minBinShare: 0.05 };

export const binCount = (b: Binning): number => (b.kind === 'numeric' ? b.cuts.length + 1 : b.groups.length);

export function numericBin(cuts: readonly number[], x: number): number {
  if (Number.isNaN(x)) return cuts.length + 1;
  let lo = 0;
  let hi = cuts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < cuts[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

interface Cell {
  goods: number;
  bads: number;
  /** numeric: the lower cut of the cell (undefined for the first); categorical: its labels */
  lower?: number;
  labels: string[];
}

const rate = (c: Cell): number => c.bads / (c.goods + c.bads);

function merge(a: Cell, b: Cell): Cell {
  return {
    goods: a.goods + b.goods,
    bads: a.bads + b.bads,
    lower: a.lower,
    labels: [...a.labels, ...b.labels],
  };
}

/** Pool adjacent violators: merges neighbours until the bad rate strictly rises (or falls) with the bin. */
function poolAdjacentViolators(cells: Cell[], increasing: boolean): Cell[] {
  const stack: Cell[] = [];
  for (const cell of cells) {
    stack.push(cell);
    while (stack.length > 1) {
      const top = stack[stack.length - 1]!;
      const below = stack[stack.length - 2]!;
      const ok = increasing ? rate(below) < rate(top) : rate(below) > rate(top);
      if (ok) break;
      stack.splice(stack.length - 2, 2, merge(below, top));
    }
  }
  return stack;
}

/**
 * Merges a bin smaller than the minimum, or holding only goods or only bads, into the neighbour
 * whose bad rate is closest. Merging neighbours keeps a monotone sequence monotone.
 */
function mergeSmall(cells: Cell[], minCount: number): Cell[] {
  const out = [...cells];
  for (;;) {
    if (out.length < 2) return out;
    let worst = -1;
    let worstCount = Infinity;
    out.forEach((c, i) => {
      const count = c.goods + c.bads;
      if ((count < minCount || c.goods === 0 || c.bads === 0) && count < worstCount) {
        worst = i;
        worstCount = count;
      }
    });
    if (worst < 0) return out;
    const left = worst > 0 ? out[worst - 1] : undefined;
    const right = worst < out.length - 1 ? out[worst + 1] : undefined;
    const r = rate(out[worst]!);
    const useLeft = !right || (left !== undefined && Math.abs(rate(left) - r) <= Math.abs(rate(right) - r));
    const at = useLeft ? worst - 1 : worst;
    out.splice(at, 2, merge(out[at]!, out[at + 1]!));
  }
}

const ivOf = (cells: Cell[]): number =>
  woeTable(
    cells.map((c) => c.goods),
    cells.map((c) => c.bads),
  ).iv;

/**
 * Bins a numeric characteristic: quantile fine bins, then monotone merging (pool adjacent
 * violators, in whichever direction keeps more information value), then small bins merged, so the
 * WoE is strictly monotone in bin order.
 */
export function binNumeric(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  rows: ArrayLike<number>,
  options: BinningOptions = defaultBinningOptions,
): Binning {
  const present: number[] = [];
  for (let r = 0; r < rows.length; r++) if (!Number.isNaN(x[rows[r]!]!)) present.push(rows[r]!);
  const values = Float64Array.from(present, (i) => x[i]!).sort();
  const cuts: number[] = [];
  for (let q = 1; q < options.fineBins; q++) {
    const v = values[Math.floor((q * values.length) / options.fineBins)];
    if (v !== undefined && v > values[0]! && (cuts.length === 0 || v > cuts[cuts.length - 1]!)) cuts.push(v);
  }
  const cells: Cell[] = Array.from({ length: cuts.length + 1 }, (_, i) => ({
    goods: 0,
    bads: 0,
    lower: i === 0 ? undefined : cuts[i - 1],
    labels: [],
  }));
  for (const i of present) {
    const cell = cells[numericBin(cuts, x[i]!)]!;
    if (y[i] === 1) cell.bads++;
    else cell.goods++;
  }
  const minCount = options.minBinShare * present.length;
  const candidates = [true, false].map((increasing) =>
    mergeSmall(
      poolAdjacentViolators(
        cells.filter((c) => c.goods + c.bads > 0),
        increasing,
      ),
      minCount,
    ),
  );
  const best = ivOf(candidates[0]!) >= ivOf(candidates[1]!) ? candidates[0]! : candidates[1]!;
  return { kind: 'numeric', cuts: best.slice(1).map((c) => c.lower!) };
}

/**
 * Bins a categorical characteristic: one bin per label, ordered by bad rate, small bins merged into
 * the neighbour (in that order) with the closest bad rate.
 */
export function binCategorical(
  x: ArrayLike<string | null>,
  y: ArrayLike<number>,
  rows: ArrayLike<number>,
  options: BinningOptions = defaultBinningOptions,
): Binning {
  const byLabel = new Map<string, Cell>();
  let present = 0;
  for (let r = 0; r < rows.length; r++) {
    const label = x[rows[r]!];
    if (label === null || label === undefined) continue;
    present++;
    let cell = byLabel.get(label);
    if (!cell) byLabel.set(label, (cell = { goods: 0, bads: 0, labels: [label] }));
    if (y[rows[r]!] === 1) cell.bads++;
    else cell.goods++;
  }
  const ordered = [...byLabel.values()].sort(
    (a, b) => rate(a) - rate(b) || a.labels[0]!.localeCompare(b.labels[0]!),
  );
  const merged = mergeSmall(ordered, options.minBinShare * present);
  return { kind: 'categorical', groups: merged.map((c) => [...c.labels].sort()) };
}

/** The bin index of every row under a binning (missing and unseen labels → binCount). */
export function assignBins(binning: Binning, x: ArrayLike<number> | ArrayLike<string | null>): Uint8Array {
  const out = new Uint8Array(x.length);
  if (binning.kind === 'numeric') {
    const v = x as ArrayLike<number>;
    for (let i = 0; i < v.length; i++) out[i] = numericBin(binning.cuts, v[i]!);
  } else {
    const lookup = categoryLookup(binning.groups);
    const v = x as ArrayLike<string | null>;
    for (let i = 0; i < v.length; i++) out[i] = lookup.get(v[i] ?? '') ?? binning.groups.length;
  }
  return out;
}

export function categoryLookup(groups: readonly string[][]): Map<string, number> {
  const lookup = new Map<string, number>();
  groups.forEach((labels, g) => labels.forEach((label) => lookup.set(label, g)));
  return lookup;
}

/** Goods and bads per bin (the last entry is the missing bin) over `rows`. */
export function binCounts(bins: Uint8Array, y: ArrayLike<number>, rows: ArrayLike<number>, count: number) {
  const goods = new Array<number>(count + 1).fill(0);
  const bads = new Array<number>(count + 1).fill(0);
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r]!;
    if (y[i] === 1) bads[bins[i]!]!++;
    else goods[bins[i]!]!++;
  }
  return { goods, bads };
}
