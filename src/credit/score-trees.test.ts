import fc from 'fast-check';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultArtifactPath, readArtifact, type CreditArtifact } from './artifact.ts';
import { csvRecords, readCsvFile } from './csv.ts';
import { modelSpec, parseNumber, repoRoot, type ModelName } from './datasets.ts';
import { encodeValue } from './encoding.ts';
import { sigmoid } from './logistic.ts';
import { clampScore } from './scaling.ts';
import { plainWalk } from '../../test/support/tree-walk.ts';
import { REASON_COUNT, scoreApplicant, type ApplicantFeatures, type ScoreResult } from './score.ts';

/**
 * The reference the compiled call must match bit for bit: each input read as the trees see it (one
 * column at a time, with encodeValue), the trees walked node by node (plainWalk), reasons the
 * inputs that cost points and whose text holds for the applicant, by points lost, most first.
 */
function referenceScore(artifact: CreditArtifact, features: ApplicantFeatures): ScoreResult {
  const gbt = artifact.gbt!;
  const spec = modelSpec(artifact.model);
  const byName = new Map(spec.features.map((f) => [f.name, f]));
  const x = artifact.inputs.map((input, j) => {
    const f = byName.get(input.name)!;
    const e = gbt.encodings[j]!;
    if (f.kind === 'numeric')
      return f.derive
        ? f.derive(f.from!.map((c) => parseNumber(features[c])))
        : parseNumber(features[f.name]);
    const rank = e.kind === 'rank' ? new Map(e.labels.map((label, r) => [label, r])) : undefined;
    return encodeValue(e, features[f.name], rank);
  });
  const { margin, contributions: contribution } = plainWalk(gbt, x);
  const { factor, offset } = artifact.scaling;
  const lost = contribution.map((c, j) => Math.max(0, factor * (c - gbt.best_contribution[j]!)));
  const raw = offset - factor * margin;
  // A reason costs points and its text is true of the applicant (reasonHolds).
  const order = lost
    .map((_, j) => j)
    .filter((j) => lost[j]! > 0 && (byName.get(artifact.inputs[j]!.name)!.reasonHolds?.(features) ?? true))
    .sort((a, b) => lost[b]! - lost[a]! || a - b);
  return {
    score: clampScore(artifact.scaling, raw),
    probability: sigmoid((offset - raw) / factor),
    reasons: order.slice(0, REASON_COUNT).map((j) => {
      const input = artifact.inputs[j]!;
      return {
        feature: input.name,
        code: input.code,
        points_lost: Math.max(0, Math.round(lost[j]! * 10) / 10),
        text_en: input.text_en,
        text_zh: input.text_zh,
      };
    }),
  };
}

describe.each<ModelName>(['behaviour', 'application'])('compiled trees of the %s model', (name) => {
  const artifact = readArtifact(defaultArtifactPath(name));
  const spec = modelSpec(name);
  const records = csvRecords(readCsvFile(path.join(repoRoot, spec.dataFile)));

  it('score every row of the data set exactly as the node-by-node walk', () => {
    expect(artifact.learner).toBe('gbt');
    for (let i = 0; i < records.length; i += name === 'behaviour' ? 7 : 1)
      expect(scoreApplicant(artifact, records[i]!)).toEqual(referenceScore(artifact, records[i]!));
  });

  it('score exactly as the walk on made-up applicants: split thresholds, their neighbours, missing', () => {
    // Values drawn from what decides a walk: every threshold a tree splits at, the numbers next to
    // them, the data's own values, missing in its forms, and arbitrary numbers.
    const thresholds = new Map<string, number[]>();
    for (const tree of artifact.gbt!.trees)
      tree.feature.forEach((f, i) => {
        if (f < 0) return;
        const list = thresholds.get(artifact.inputs[f]!.name) ?? [];
        list.push(tree.threshold[i]!);
        thresholds.set(artifact.inputs[f]!.name, list);
      });
    const columns = Object.keys(records[0]!);
    const value = (column: string) =>
      fc.oneof(
        fc.constantFrom(...records.slice(0, 500).map((r) => r[column]!)),
        fc.constantFrom('', undefined, null, 'not a number'),
        fc.double({ noNaN: false, min: -1e7, max: 1e7 }),
        fc
          .constantFrom(...(thresholds.get(column) ?? [0]))
          .chain((t) => fc.constantFrom(t, String(t), t - 1e-9, t + 1e-9, t - 1, t + 1)),
      );
    const applicant = fc.record(Object.fromEntries(columns.map((c) => [c, value(c)])));
    fc.assert(
      fc.property(applicant, (features) => {
        expect(scoreApplicant(artifact, features)).toEqual(referenceScore(artifact, features));
      }),
      { numRuns: 2000 },
    );
  });
});
