import { MilletError } from '../core/index.ts';
import type { CreditArtifact } from './artifact.ts';
import type { CsvTable } from './csv.ts';
import { modelSpec } from './datasets.ts';
import { auc, gini, ks } from './metrics.ts';
import { scoreApplicant } from './score.ts';

export interface Evaluation {
  model: string;
  n: number;
  auc: number;
  ks: number;
  gini: number;
}

/** Scores every row of a labelled table with the artifact: probabilities, scores and labels. */
export function scoreTable(artifact: CreditArtifact, table: CsvTable) {
  const spec = modelSpec(artifact.model);
  const target = table.columns.indexOf(spec.target);
  if (target < 0)
    throw new MilletError('CREDIT_DATA_INVALID', `the data has no target column "${spec.target}"`);
  const needed = new Set(spec.features.flatMap((f) => (f.from ? f.from : [f.name])));
  const missing = [...needed].filter((c) => !table.columns.includes(c));
  if (missing.length > 0)
    throw new MilletError('CREDIT_DATA_INVALID', `the data lacks columns: ${missing.join(', ')}`, {
      missing,
    });
  const n = table.rows.length;
  const probability = new Float64Array(n);
  const score = new Float64Array(n);
  const y = new Uint8Array(n);
  const record: Record<string, string> = {};
  table.rows.forEach((row, r) => {
    table.columns.forEach((c, i) => (record[c] = row[i]!));
    const result = scoreApplicant(artifact, record);
    probability[r] = result.probability;
    score[r] = result.score;
    y[r] = row[target]!.trim() === spec.badValue ? 1 : 0;
  });
  return { probability, score, y };
}

const round4 = (x: number): number => Math.round(x * 10_000) / 10_000;

/** AUC, KS and Gini of the artifact on a labelled table (by probability, before clamping). */
export function evaluateArtifact(artifact: CreditArtifact, table: CsvTable): Evaluation {
  const { probability, y } = scoreTable(artifact, table);
  const bads = y.reduce((a, b) => a + b, 0);
  if (bads === 0 || bads === y.length)
    throw new MilletError('CREDIT_DATA_INVALID', 'evaluation needs both goods and bads in the data');
  const a = auc(probability, y);
  return {
    model: artifact.model,
    n: y.length,
    auc: round4(a),
    ks: round4(ks(probability, y)),
    gini: round4(gini(a)),
  };
}
