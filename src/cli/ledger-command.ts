import { Command } from 'commander';
import { ledgerVerifyCommand } from './ledger-verify-command.ts';

export function ledgerCommand(): Command {
  return new Command('ledger').description('Inspect the ledger').addCommand(ledgerVerifyCommand());
}
