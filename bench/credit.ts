/**
 * `npm run bench -- credit [--json]`
 *
 * score_p99_us: one in-process scoreApplicant call (score, probability and four reason codes) on the
 * committed behaviour and application artifacts, over the rows of the shared data sets, after a
 * warm-up. model_s: the time to train the behaviour model (5-fold CV of both learners plus the
 * final fit), as `millet credit train` does it. The score service's keys (refresh_users, refresh_s,
 * feature_s) are null: the monthly refresh arrives with the score service (issue 4, item 5).
 */
import path from 'node:path';
import {
  csvRecords,
  defaultArtifactPath,
  frameFromCsv,
  modelSpec,
  readArtifact,
  readCsvFile,
  repoRoot,
  scoreApplicant,
  trainModel,
  type ModelName,
} from '../src/credit/index.ts';
import { percentile, report, round } from './_report.ts';

function scoreLatency(name: ModelName) {
  const spec = modelSpec(name);
  const artifact = readArtifact(defaultArtifactPath(name));
  const records = csvRecords(readCsvFile(path.join(repoRoot, spec.dataFile)));
  for (let i = 0; i < 20_000; i++) scoreApplicant(artifact, records[i % records.length]!);
  const samples: number[] = [];
  const calls = Math.max(50_000, records.length);
  for (let i = 0; i < calls; i++) {
    const record = records[i % records.length]!;
    const started = process.hrtime.bigint();
    scoreApplicant(artifact, record);
    samples.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  samples.sort((a, b) => a - b);
  return {
    learner: artifact.learner,
    calls,
    p50_us: round(percentile(samples, 50), 2),
    p99_us: round(percentile(samples, 99), 2),
  };
}

export async function main(args: string[]): Promise<void> {
  const log = (message: string) => console.error(`[bench credit] ${message}`);
  const behaviour = scoreLatency('behaviour');
  const application = scoreLatency('application');
  log(`score p99 behaviour ${behaviour.p99_us} µs, application ${application.p99_us} µs; training behaviour`);
  const spec = modelSpec('behaviour');
  const dataFile = path.join(repoRoot, spec.dataFile);
  const started = performance.now();
  const frame = frameFromCsv(spec, readCsvFile(dataFile));
  const { artifact } = trainModel(spec, frame, dataFile);
  const modelSeconds = (performance.now() - started) / 1000;
  report(
    'credit',
    {
      score_p99_us: Math.max(behaviour.p99_us, application.p99_us),
      refresh_users: null,
      refresh_s: null,
      feature_s: null,
      model_s: round(modelSeconds, 1),
      note: 'refresh_users, refresh_s and feature_s arrive with the score service (monthly refresh on PostgreSQL)',
      score: { behaviour, application },
      training: {
        model: 'behaviour',
        rows: frame.n,
        chosen: artifact.learner,
        cv_auc_scorecard: round(artifact.cross_validation.scorecard.auc, 4),
        cv_auc_gbt: round(artifact.cross_validation.gbt.auc, 4),
        trees: artifact.cross_validation.gbt.trees,
      },
    },
    args,
  );
}
