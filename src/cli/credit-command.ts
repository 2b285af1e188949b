import { Command } from 'commander';
import { creditEvalCommand } from './credit-eval-command.ts';
import { creditRefreshCommand } from './credit-refresh-command.ts';
import { creditReportCommand } from './credit-report-command.ts';
import { creditTrainCommand } from './credit-train-command.ts';

export function creditCommand(): Command {
  return new Command('credit')
    .description('Credit scoring: train, evaluate and report on the models; refresh the scores')
    .addCommand(creditTrainCommand())
    .addCommand(creditEvalCommand())
    .addCommand(creditReportCommand())
    .addCommand(creditRefreshCommand());
}
