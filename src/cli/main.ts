import { Command } from 'commander';
import { milletVersion } from '../api/index.ts';
import { closeDayCommand } from './close-day-command.ts';
import { creditCommand } from './credit-command.ts';
import { EXIT_FAILURE } from './exit-codes.ts';
import { ledgerCommand } from './ledger-command.ts';
import { lendingCommand } from './lending-command.ts';
import { partnerSimCommand } from './partner-sim-command.ts';
import { reportError } from './report-error.ts';
import { startCommand } from './start-command.ts';

const program = new Command('millet')
  .description('Millet: consumer finance on one double-entry ledger')
  .version(milletVersion)
  .addCommand(startCommand())
  .addCommand(ledgerCommand())
  .addCommand(closeDayCommand())
  .addCommand(creditCommand())
  .addCommand(lendingCommand())
  .addCommand(partnerSimCommand());

try {
  await program.parseAsync(process.argv);
} catch (error) {
  reportError(error);
  process.exitCode = EXIT_FAILURE;
}
