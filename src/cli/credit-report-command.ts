import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { buildCreditReport } from '../credit/index.ts';
import { progressBar } from './credit-progress.ts';

export function creditReportCommand(): Command {
  return new Command('report')
    .description(
      'Write an HTML report on both models: ROC, score distributions, calibration, lift, PSI, fairness',
    )
    .option('--out <file>', 'where to write the report', 'credit-report.html')
    .action((options: { out: string }) => {
      const bar = progressBar('report');
      const html = buildCreditReport({ onProgress: bar.update });
      bar.end();
      const out = path.resolve(options.out);
      fs.writeFileSync(out, html);
      process.stdout.write(`wrote ${out}\n`);
    });
}
