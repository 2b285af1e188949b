import type { CreditArtifact, ModelInput } from './artifact.ts';
import { categoryLookup, numericBin } from './binning.ts';
import { modelSpec, parseCategory, parseNumber, type FeatureSpec } from './datasets.ts';
import { compileTrees, doubleArray } from './compiled-trees.ts';
import { sigmoid } from './logistic.ts';
import { clampScore } from './scaling.ts';
import { compileTreeInputs } from './tree-inputs.ts';

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
  /** Up to four characteristics that cost the most points and whose text is true of the applicant, most first. */
  reasons: ReasonCode[];
}

/** An applicant's raw values by column name, as in the data set (strings or numbers; missing allowed). */
export type ApplicantFeatures = Readonly<Record<string, unknown>>;

export const REASON_COUNT = 4;

interface Compiled {
  inputs: ModelInput[];
  specs: FeatureSpec[];
  /** Value of input j from a record: a number (numeric, encoded) or a bin index. */
  contribution: (features: ApplicantFeatures, lost: number[]) => number;
  factor: number;
  offset: number;
  /** Scratch buffers reused by every call (scoring is synchronous, so calls never overlap). */
  /** Plain arrays, not typed ones: see compiled-trees.ts (detached-buffer checks). */
  lost: number[];
  /** The reasons' input indexes, most points lost first. */
  top: number[];
  /** Per input, whether its reason's text is true of the applicant (null: whenever it costs points). */
  holds: Array<((features: ApplicantFeatures) => boolean) | null>;
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

function compile(artifact: CreditArtifact): Omit<Compiled, 'lost' | 'top' | 'holds'> {
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
  const read = compileTreeInputs(specs, gbt.encodings);
  const trees = compileTrees(gbt, m);
  const { x, contributions } = trees;
  const best = gbt.best_contribution.slice();
  return {
    inputs: artifact.inputs,
    specs,
    factor,
    offset,
    contribution: (features, lost) => {
      read(features, x);
      const margin = trees.evaluate();
      for (let j = 0; j < m; j++) lost[j] = Math.max(0, factor * (contributions[j]! - best[j]!));
      return offset - factor * margin;
    },
  };
}

function compiled(artifact: CreditArtifact): Compiled {
  let c = cache.get(artifact);
  if (!c) {
    const parts = compile(artifact);
    const m = parts.inputs.length;
    cache.set(
      artifact,
      (c = {
        ...parts,
        lost: doubleArray(m, 0),
        top: new Array<number>(REASON_COUNT).fill(0),
        holds: parts.specs.map((spec) => spec.reasonHolds ?? null),
      }),
    );
  }
  return c;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/**
 * Scores one applicant: the 350–950 score, the probability of default and the top four reason codes
 * (characteristics by points lost, most first; ties by input order). A reason is only a
 * characteristic that costs points and whose text is true of the applicant (`reasonHolds`), so a
 * user with fewer such characteristics gets fewer reasons, not untrue ones. The first call compiles the
 * artifact (cached per artifact object); later calls allocate only the result.
 */
export function scoreApplicant(
  artifact: CreditArtifact,
  features: ApplicantFeatures,
  /** Inputs that are not the applicant's own (constants set for everyone): never given as reasons. */
  notReasons?: ReadonlySet<string>,
): ScoreResult {
  const c = compiled(artifact);
  const { lost, top, holds } = c;
  const raw = c.contribution(features, lost);
  const probability = sigmoid((c.offset - raw) / c.factor);
  // One pass keeping the four largest in order; a strictly larger value is needed to move ahead,
  // so ties keep input order. Negative (or NaN) marks an input the scorecard does not use; zero, one
  // already at its best (nothing to improve, so nothing to tell).
  let count = 0;
  for (let j = 0; j < lost.length; j++) {
    const v = lost[j]!;
    if (!(v > 0) || (count === REASON_COUNT && !(v > lost[top[count - 1]!]!))) continue;
    if (notReasons?.has(c.inputs[j]!.name)) continue;
    const holdsFor = holds[j];
    if (holdsFor && !holdsFor(features)) continue;
    let k = count < REASON_COUNT ? count++ : count - 1;
    for (; k > 0 && v > lost[top[k - 1]!]!; k--) top[k] = top[k - 1]!;
    top[k] = j;
  }
  const reasons: ReasonCode[] = [];
  for (let r = 0; r < count; r++) {
    const input = c.inputs[top[r]!]!;
    reasons.push({
      feature: input.name,
      code: input.code,
      points_lost: Math.max(0, round1(lost[top[r]!]!)),
      text_en: input.text_en,
      text_zh: input.text_zh,
    });
  }
  return { score: clampScore(artifactScaling(artifact), raw), probability, reasons };
}

const artifactScaling = (artifact: CreditArtifact) => artifact.scaling;
