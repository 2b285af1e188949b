import { Command } from 'commander';
import { createApp, type App } from '../app.ts';
import { cliConfig } from './cli-options.ts';
import { EXIT_FAILURE, EXIT_OK } from './exit-codes.ts';
import { reportError } from './report-error.ts';

/** A close that hangs (a stuck request) must not keep an orchestrator waiting forever. */
const CLOSE_TIMEOUT_MS = 15_000;

function printBanner(app: App, address: string): void {
  const lines = [`Millet is listening on ${address} (API docs at ${address}/docs)`];
  if (app.bootstrapKey) {
    lines.push(
      '',
      'Created the first operator API key (all scopes). It is shown only this once:',
      '',
      `    ${app.bootstrapKey.plaintext}`,
      '',
      app.bootstrapKey.savedTo
        ? `It is also saved, readable only by you, in ${app.bootstrapKey.savedTo}`
        : 'Store it in your secret manager now; it cannot be shown again.',
      'Use it as "Authorization: Bearer <key>", and create narrower keys with POST /v1/operator/api-keys.',
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

function closeOnSignals(app: App): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      process.stderr.write(`millet: ${signal} again, exiting without a clean close\n`);
      process.exit(EXIT_FAILURE);
    }
    closing = true;
    app.logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      process.stderr.write('millet: close timed out\n');
      process.exit(EXIT_FAILURE);
    }, CLOSE_TIMEOUT_MS);
    timer.unref();
    app.close().then(
      () => process.exit(EXIT_OK),
      (error: unknown) => {
        reportError(error);
        process.exit(EXIT_FAILURE);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

export function startCommand(): Command {
  return new Command('start')
    .description('Run the API server and background jobs (PORT, MILLET_DATA_DIR, DATABASE_URL)')
    .action(async () => {
      let app: App;
      try {
        app = await createApp(cliConfig());
      } catch (error) {
        reportError(error);
        process.exit(EXIT_FAILURE);
      }
      closeOnSignals(app);
      try {
        const address = await app.listen();
        printBanner(app, address);
      } catch (error) {
        reportError(error);
        await app.close();
        process.exit(EXIT_FAILURE);
      }
    });
}
