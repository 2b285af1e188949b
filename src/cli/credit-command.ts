import { Command } from 'commander';
import { creditEvalCommand } from './credit-eval-command.ts';
import { creditReportCommand } from './credit-report-command.ts';
import { creditTrainCommand } from './credit-train-command.ts';

export function creditCommand(): Command {
  return new Command('credit')
    .description('Credit scoring models: train, evaluate, report')
    .addCommand(creditTrainCommand())
    .addCommand(creditEvalCommand())
    .addCommand(creditReportCommand());
}
