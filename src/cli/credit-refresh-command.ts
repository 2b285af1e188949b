import { Command } from 'commander';
import { createApp } from '../app.ts';
import { MilletError, businessDate, systemClock } from '../core/index.ts';
import type { RefreshProgress, RefreshReport } from '../credit/index.ts';
import { businessDateOption, cliConfig, cliLogger, positiveInteger } from './cli-options.ts';
import { EXIT_FAILURE } from './exit-codes.ts';
import { reportError } from './report-error.ts';

function progressLine(p: RefreshProgress): void {
  const line =
    `refreshing scores for ${p.businessDate}: ${p.processed} users looked at, ${p.scored} scored, ` +
    `${p.skippedCurrent} current, ${p.skippedNoAnswers} without answers, ${p.skippedIneligible} ineligible`;
  process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${line}` : `${line}\n`);
}

function summary(r: RefreshReport): string {
  if (r.alreadyCompleted) return `${r.businessDate}: already refreshed (${r.scored} scored); nothing to do`;
  return (
    `${r.businessDate}: ${r.status}; ${r.scored} scored, ${r.skippedCurrent} already current, ` +
    `${r.skippedNoAnswers} without application answers, ${r.skippedIneligible} ineligible ` +
    `in ${r.timings.totalS.toFixed(1)} s`
  );
}

/** `millet credit refresh [--date D]`: the monthly score refresh, resumable, with progress. */
export function creditRefreshCommand(): Command {
  return new Command('refresh')
    .description(
      'Refresh the credit score of every consenting user not yet scored on the date (resumable; a rerun does nothing)',
    )
    .option(
      '--date <YYYY-MM-DD>',
      'the refresh business date (default: today, Asia/Shanghai)',
      businessDateOption,
    )
    .option('--batch-size <N>', 'users per batch (default 1000)', positiveInteger)
    .option('--json', 'print the report as one JSON object')
    .action(async (options: { date?: string; batchSize?: number; json?: boolean }) => {
      let app;
      try {
        // Scores stored with a date ahead of today count as current, so every later refresh skips
        // their users until that date: a mistyped year would switch the monthly refresh off. The
        // close's fast-forward refreshes ahead of the wall clock through refreshScores itself, not here.
        const today = businessDate(systemClock);
        if (options.date !== undefined && options.date > today)
          throw new MilletError(
            'VALIDATION_FAILED',
            `--date ${options.date} is after today (${today}, Asia/Shanghai); a refresh cannot be dated in the future`,
          );
        const config = cliConfig();
        app = await createApp(config, { logger: cliLogger(config) });
        const report = await app.credit.refreshScores({
          businessDate: options.date,
          batchSize: options.batchSize,
          onProgress: progressLine,
        });
        if (process.stderr.isTTY) process.stderr.write('\n');
        process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : `${summary(report)}\n`);
      } catch (error) {
        reportError(error);
        process.exitCode = EXIT_FAILURE;
      } finally {
        await app?.close();
      }
    });
}
