import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MilletError } from '../core/index.ts';
import { modelSpec, repoRoot, type ModelName } from './datasets.ts';
import type { TreeEncoding } from './encoding.ts';
import type { GbtModel, GbtOptions } from './gbt.ts';
import { assertNoProtectedFields } from './protected.ts';
import type { Scaling } from './scaling.ts';
import type { ScorecardModel, ScorecardOptions } from './scorecard.ts';

export const ARTIFACT_FORMAT = 'millet-credit-model';
export const ARTIFACT_FORMAT_VERSION = 1;
/** Bumped by hand when features, binning or learners change meaning (not for a plain retrain). */
export const MODEL_VERSION = '1.0.0';

export type Learner = 'scorecard' | 'gbt';

export interface CvSummary {
  auc: number;
  ks: number;
  gini: number;
  auc_folds: number[];
  ks_folds: number[];
  /** GBT: the number of trees with the best mean out-of-fold AUC. */
  trees?: number;
}

export interface ModelInput {
  name: string;
  kind: 'numeric' | 'categorical';
  code: string;
  text_en: string;
  text_zh: string;
  /** Derived inputs: how they are computed from the data set's columns. */
  formula?: string;
  from?: string[];
}

export interface GbtPart extends GbtModel {
  /** Per input (same order as `inputs`). */
  encodings: TreeEncoding[];
  monotone: number[];
  /** Per input: the most favourable contribution seen in training (1st percentile), for reasons. */
  best_contribution: number[];
}

/** A trained model: everything needed to score, and how it was made. JSON, committed. */
export interface CreditArtifact {
  format: typeof ARTIFACT_FORMAT;
  format_version: number;
  model: ModelName;
  model_version: string;
  title: string;
  learner: Learner;
  trained_at: string;
  data: { file: string; sha256: string; rows: number; bad_rate: number };
  inputs: ModelInput[];
  excluded_protected_fields: string[];
  scaling: Scaling;
  cross_validation: {
    folds: number;
    seed: number;
    scorecard: CvSummary;
    gbt: CvSummary;
    chosen: Learner;
    reason: string;
  };
  hyper_parameters: { scorecard: ScorecardOptions; gbt: GbtOptions };
  training_fit: { auc: number; ks: number };
  scorecard?: ScorecardModel;
  gbt?: GbtPart;
}

export const defaultArtifactPath = (model: ModelName): string =>
  path.join(repoRoot, 'src', 'credit', 'models', `${model}.json`);

export function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Non-integers keep 8 significant digits: the trees' and bins' precision, a third of the size. */
export function serializeArtifact(artifact: CreditArtifact): string {
  return `${JSON.stringify(artifact, (_key, value: unknown) =>
    typeof value === 'number' && !Number.isInteger(value) && Number.isFinite(value)
      ? Number(value.toPrecision(8))
      : value,
  )}\n`;
}

/**
 * Writes the artifact. Artifacts are committed, so when the repository's prettier is installed (a
 * development checkout) the file is laid out as `npm run lint` expects; otherwise compact JSON.
 */
export async function writeArtifact(file: string, artifact: CreditArtifact): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let text = serializeArtifact(artifact);
  try {
    const prettier = await import('prettier');
    const config = (await prettier.resolveConfig(file)) ?? {};
    text = await prettier.format(text, { ...config, parser: 'json' });
  } catch {
    // prettier is a development dependency: without it the compact form is just as valid.
  }
  fs.writeFileSync(file, text);
}

/** Checks the shape enough to score safely; throws CREDIT_ARTIFACT_INVALID otherwise. */
export function validateArtifact(value: unknown, source = 'artifact'): CreditArtifact {
  const fail = (why: string): never => {
    throw new MilletError('CREDIT_ARTIFACT_INVALID', `${source}: ${why}`);
  };
  if (typeof value !== 'object' || value === null) fail('not a JSON object');
  const a = value as Partial<CreditArtifact>;
  if (a.format !== ARTIFACT_FORMAT) fail(`format is not ${ARTIFACT_FORMAT}`);
  if (a.format_version !== ARTIFACT_FORMAT_VERSION)
    fail(`format version ${String(a.format_version)} (this Millet reads ${ARTIFACT_FORMAT_VERSION})`);
  modelSpec(String(a.model));
  if (!Array.isArray(a.inputs) || !a.scaling) fail('inputs or scaling missing');
  assertNoProtectedFields(a.inputs!.flatMap((i) => [i.name, ...(i.from ?? [])]));
  if (a.learner === 'scorecard') {
    if (!a.scorecard) fail('learner is scorecard but there is no scorecard');
    assertNoProtectedFields(a.scorecard!.characteristics.map((c) => c.feature));
  } else if (a.learner === 'gbt') {
    if (!a.gbt || a.gbt.encodings.length !== a.inputs!.length)
      fail('learner is gbt but the trees are missing');
  } else fail(`unknown learner ${String(a.learner)}`);
  return a as CreditArtifact;
}

export function readArtifact(file: string): CreditArtifact {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new MilletError('CREDIT_ARTIFACT_INVALID', `cannot read ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new MilletError('CREDIT_ARTIFACT_INVALID', `${file} is not JSON`);
  }
  return validateArtifact(parsed, file);
}
