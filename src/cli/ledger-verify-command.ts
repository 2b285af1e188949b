import { Command } from 'commander';
import { allMigrations } from '../app.ts';
import { systemClock } from '../core/index.ts';
import { cliConfig } from './cli-options.ts';
import { applyMigrations, openDatabase } from '../db/index.ts';
import { createLedger, type VerifyReport } from '../ledger/index.ts';
import { EXIT_FAILURE, EXIT_OK } from './exit-codes.ts';
import { reportError } from './report-error.ts';

function progressLine(done: bigint, total: bigint): void {
  const line = `verifying: ${done}/${total} entries`;
  // On a terminal the line updates in place; in a log each update is its own line.
  process.stderr.write(process.stderr.isTTY ? `\r${line}` : `${line}\n`);
}

function readableReport(report: VerifyReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = report.checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(width)}  ${c.detail}`);
  const verdict = report.ok ? 'the ledger is consistent' : 'the ledger FAILED verification';
  return [`Ledger verification over ${report.entries} journal entries: ${verdict}`, ...lines].join('\n');
}

export function ledgerVerifyCommand(): Command {
  return new Command('verify')
    .description(
      'Re-derive the ledger from its journal: hash chain, each entry balanced, zero-sum, balances = sum of legs, bounds',
    )
    .option('--json', 'print one JSON object instead of the readable report')
    .action(async (options: { json?: boolean }) => {
      let report: VerifyReport;
      try {
        const config = cliConfig();
        const db = await openDatabase({
          databaseUrl: config.databaseUrl,
          dataDir: config.dataDir,
          schema: config.databaseSchema,
        });
        try {
          await applyMigrations(db, allMigrations);
          const ledger = createLedger({ db, clock: systemClock });
          report = await ledger.verify(progressLine);
          if (process.stderr.isTTY) process.stderr.write('\n');
          await ledger.close();
        } finally {
          await db.close();
        }
      } catch (error) {
        reportError(error);
        process.exitCode = EXIT_FAILURE;
        return;
      }
      if (options.json) {
        process.stdout.write(
          `${JSON.stringify({ ok: report.ok, entries: report.entries.toString(), checks: report.checks })}\n`,
        );
      } else {
        process.stdout.write(`${readableReport(report)}\n`);
      }
      process.exitCode = report.ok ? EXIT_OK : EXIT_FAILURE;
    });
}
