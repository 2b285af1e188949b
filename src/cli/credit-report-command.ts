import fs from 'node:fs';
import { Command } from 'commander';
import { buildCreditReport } from '../credit/index.ts';
import { writableOutput } from './cli-options.ts';
import { progressBar } from './credit-progress.ts';

export function creditReportCommand(): Command {
  return new Command('report')
    .description(
      'Write an HTML report on both models: ROC, score distributions, calibration, lift, PSI, fairness',
    )
    .option('--out <file>', 'where to write the report', 'credit-report.html')
    .action((options: { out: string }) => {
      const out = writableOutput(options.out);
      const bar = progressBar('report');
      const html = buildCreditReport({ onProgress: bar.update });
      bar.end();
      fs.writeFileSync(out, html);
      process.stdout.write(`wrote ${out}\n`);
    });
}
