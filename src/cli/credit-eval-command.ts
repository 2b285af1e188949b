import path from 'node:path';
import { Command } from 'commander';
import { MilletError } from '../core/index.ts';
import {
  defaultArtifactPath,
  evaluateArtifact,
  modelSpec,
  readArtifact,
  readCsvFile,
} from '../credit/index.ts';

export function creditEvalCommand(): Command {
  return new Command('eval')
    .description(
      'Evaluate a model artifact on a labelled CSV; prints one JSON object {model, n, auc, ks, gini}',
    )
    .requiredOption('--model <name>', 'behaviour or application')
    .requiredOption('--data <file>', 'CSV with the same columns as the shared data set')
    .option('--artifact <file>', 'model artifact (default: src/credit/models/<model>.json)')
    .action((options: { model: string; data: string; artifact?: string }) => {
      const spec = modelSpec(options.model);
      const artifact = readArtifact(path.resolve(options.artifact ?? defaultArtifactPath(spec.name)));
      if (artifact.model !== spec.name)
        throw new MilletError(
          'VALIDATION_FAILED',
          `the artifact is a ${artifact.model} model, not ${spec.name}`,
        );
      const result = evaluateArtifact(artifact, readCsvFile(path.resolve(options.data)));
      process.stdout.write(`${JSON.stringify(result)}\n`);
    });
}
