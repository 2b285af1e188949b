import path from 'node:path';
import { Command } from 'commander';
import {
  defaultArtifactPath,
  frameFromCsv,
  modelSpec,
  readCsvFile,
  repoRoot,
  trainModel,
  writeArtifact,
} from '../credit/index.ts';
import { writableOutput } from './cli-options.ts';
import { progressBar } from './credit-progress.ts';

export function creditTrainCommand(): Command {
  return new Command('train')
    .description(
      'Train a credit model (cross-validates scorecard and trees, keeps the better) and write its artifact',
    )
    .requiredOption('--model <name>', 'behaviour or application')
    .option('--data <file>', 'training CSV (default: the shared data set under data/credit/)')
    .option('--out <file>', 'where to write the artifact (default: src/credit/models/<model>.json)')
    .action(async (options: { model: string; data?: string; out?: string }) => {
      const spec = modelSpec(options.model);
      const dataFile = path.resolve(options.data ?? path.join(repoRoot, spec.dataFile));
      const out = writableOutput(options.out ?? defaultArtifactPath(spec.name));
      const frame = frameFromCsv(spec, readCsvFile(dataFile));
      const bar = progressBar(`training ${spec.name}`);
      const started = performance.now();
      const { artifact } = trainModel(spec, frame, dataFile, undefined, bar.update);
      bar.end();
      await writeArtifact(out, artifact);
      const cv = artifact.cross_validation;
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      process.stdout.write(
        [
          `${spec.name}: ${frame.n} rows, ${seconds}s`,
          `  scorecard CV AUC ${cv.scorecard.auc.toFixed(4)} KS ${cv.scorecard.ks.toFixed(4)}`,
          `  trees     CV AUC ${cv.gbt.auc.toFixed(4)} KS ${cv.gbt.ks.toFixed(4)} (${cv.gbt.trees} trees)`,
          `  chosen: ${cv.reason}`,
          `  wrote ${out}`,
        ].join('\n') + '\n',
      );
    });
}
