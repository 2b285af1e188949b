import { Command, Option } from 'commander';
import { createApp, type App } from '../app.ts';
import { MAX_CLOSE_DAYS, type CloseProgress, type CloseRunView } from '../jobs/index.ts';
import { businessDateOption, cliConfig, cliLogger, wholeNumberOption } from './cli-options.ts';
import { EXIT_FAILURE } from './exit-codes.ts';
import { reportError } from './report-error.ts';

function progressLine(progress: CloseProgress): void {
  const of = progress.total === null ? '' : `/${progress.total}`;
  const line = `closing ${progress.businessDate}: ${progress.step} ${progress.done}${of}`;
  process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${line}` : `${line}\n`);
}

function summary(run: CloseRunView): string {
  const steps = run.steps.map(
    (s) => `  ${s.status.padEnd(9)} ${s.step} (${s.done}${s.total === null ? '' : `/${s.total}`})`,
  );
  return [`${run.businessDate}: ${run.status}`, ...steps].join('\n');
}

/** `millet close-day [--date D] [--days N]`: the end-of-day close, resumable, with progress. */
export function closeDayCommand(): Command {
  // --days goes on after the last date closed, so a --date beside it would be ignored: refuse both.
  return new Command('close-day')
    .description('Run the end-of-day close for a business date (default: yesterday, Asia/Shanghai)')
    .option('--date <YYYY-MM-DD>', 'the business date to close', businessDateOption)
    .addOption(
      new Option('--days <N>', 'fast-forward: close the next N dates after the last one closed')
        .argParser(wholeNumberOption(1, MAX_CLOSE_DAYS))
        .conflicts('date'),
    )
    .option('--json', 'print the runs as one JSON object')
    .action(async (options: { date?: string; days?: number; json?: boolean }) => {
      let app: App | undefined;
      // Without a handler, Ctrl-C or a SIGTERM killed the process mid-close and left its run
      // "running", refused to the next close until the lease ran out (10 minutes). Now the close
      // stops at its next checkpoint and hands the run back; a second signal exits at once.
      let interrupted = false;
      const onSignal = (signal: NodeJS.Signals) => {
        if (interrupted) {
          process.stderr.write(`\nmillet: ${signal} again, exiting without handing the close back\n`);
          process.exit(EXIT_FAILURE);
        }
        interrupted = true;
        process.stderr.write(`\nmillet: ${signal}, stopping the close at its next checkpoint\n`);
        void app?.endOfDay.shutdown();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const config = cliConfig();
        app = await createApp(config, { logger: cliLogger(config) });
        if (interrupted) await app.endOfDay.shutdown();
        const runs = options.days
          ? await app.endOfDay.closeDays(options.days, { onProgress: progressLine })
          : [await app.endOfDay.close(options.date, { onProgress: progressLine })];
        if (process.stderr.isTTY) process.stderr.write('\n');
        process.stdout.write(
          options.json
            ? `${JSON.stringify({ runs }, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value))}\n`
            : `${runs.map(summary).join('\n')}\n`,
        );
      } catch (error) {
        reportError(error);
        process.exitCode = EXIT_FAILURE;
      } finally {
        await app?.close();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
