import { Command } from 'commander';
import { createApp, type App } from '../app.ts';
import type { MaxAprPass } from '../lending/index.ts';
import { cliConfig, cliLogger, wholeNumberOption } from './cli-options.ts';
import { EXIT_FAILURE } from './exit-codes.ts';
import { reportError } from './report-error.ts';

function progressLine(pass: MaxAprPass): void {
  const line =
    `recomputing max APRs (pass ${pass.pass}): ${pass.done}/${pass.total} products, ${pass.raised} raised, ` +
    `${pass.capped} at the cap, ${pass.failedProductIds.length} failed`;
  process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${line}` : `${line}\n`);
}

function summary(pass: MaxAprPass | null, processed: number): string {
  if (!pass) return 'no product has an ends-only max APR; nothing to do';
  if (processed === 0 && pass.status === 'completed')
    return `pass ${pass.pass} completed earlier (${pass.done} products); nothing to do`;
  return (
    `pass ${pass.pass}: ${pass.status}; ${pass.done}/${pass.total} products, ${pass.raised} raised, ` +
    `${pass.capped} above the 24% cap (disclosed at the cap; publish a version within it), ` +
    `${pass.failedProductIds.length} failed` +
    (pass.failedProductIds.length > 0 ? ` (${pass.failedProductIds.join(', ')})` : '')
  );
}

/** `millet lending recompute-max-apr`: the max APR of products made before the search over every amount. */
function recomputeMaxAprCommand(): Command {
  return new Command('recompute-max-apr')
    .description(
      'Recompute over every amount the max APR of products made before 2026-12-04 (found at the ends of ' +
        'their amount range only); resumable: Ctrl-C stops after the page in progress, a rerun goes on ' +
        'from there. The server also does it in the background (job lending.recompute-max-apr)',
    )
    .option('--page-size <N>', 'products per checkpoint (default 20)', wholeNumberOption(1, 1000))
    .option('--json', 'print the pass as one JSON object')
    .action(async (options: { pageSize?: number; json?: boolean }) => {
      let app: App | undefined;
      const stop = new AbortController();
      const onSignal = (signal: NodeJS.Signals) => {
        if (stop.signal.aborted) {
          process.stderr.write(`\nmillet: ${signal} again, exiting; the page in progress is done again\n`);
          process.exit(EXIT_FAILURE);
        }
        process.stderr.write(`\nmillet: ${signal}, stopping after the page in progress\n`);
        stop.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const config = cliConfig();
        app = await createApp(config, { logger: cliLogger(config) });
        const result = await app.lending.recomputeMaxApr({
          pageSize: options.pageSize,
          signal: stop.signal,
          onProgress: progressLine,
          logger: app.logger.child({ module: 'lending' }),
          retryFailed: true,
        });
        if (process.stderr.isTTY) process.stderr.write('\n');
        process.stdout.write(
          options.json
            ? `${JSON.stringify({ ...result, stopped: stop.signal.aborted })}\n`
            : `${summary(result.pass, result.processed)}\n`,
        );
        if (stop.signal.aborted) process.exitCode = EXIT_FAILURE;
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

export function lendingCommand(): Command {
  return new Command('lending')
    .description('Cash-loan products: maintenance of their stored figures')
    .addCommand(recomputeMaxAprCommand());
}
