import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import pino from 'pino';
import { createLogger } from '../api/index.ts';
import { MilletError, loadConfig, type Config } from '../core/index.ts';
import { isBusinessDate } from '../jobs/index.ts';

/** A `--date` option: a real calendar date, refused before anything opens the database. */
export function businessDateOption(text: string): string {
  if (!isBusinessDate(text))
    throw new InvalidArgumentError('must be a calendar date as YYYY-MM-DD, from 0001-01-01');
  return text;
}

/**
 * A whole-number option from `min` to `max`, plain digits only: Number() also read `1e3`, `0x10` and
 * ` 5`, and a number out of range must be refused here, before anything opens the database.
 */
export function wholeNumberOption(min: number, max: number): (text: string) => number {
  return (text) => {
    const value = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
    if (!(value >= min && value <= max)) {
      const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(`must be a whole number ${range}, in plain digits`);
    }
    return value;
  };
}

export const positiveInteger = wholeNumberOption(1, Number.MAX_SAFE_INTEGER);

/** The configuration from the environment; a bad setting is the operator's to fix, not a bug. */
export function cliConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    throw new MilletError('VALIDATION_FAILED', error instanceof Error ? error.message : String(error));
  }
}

/**
 * The log of a one-shot command goes to stderr: stdout carries its answer (`--json` output must
 * stay parseable even on a first run, which logs the migrations it applied).
 */
export function cliLogger(config: Config) {
  return createLogger({ level: config.logLevel, destination: pino.destination({ dest: 2, sync: true }) });
}

/**
 * Refuses an output file whose folder is missing or not writable before a long computation, not
 * after it (training or a report takes minutes).
 */
export function writableOutput(file: string): string {
  const out = path.resolve(file);
  const folder = path.dirname(out);
  let writable: boolean;
  try {
    fs.accessSync(folder, fs.constants.W_OK);
    writable = fs.statSync(folder).isDirectory();
  } catch {
    writable = false;
  }
  if (!writable)
    throw new MilletError('VALIDATION_FAILED', `cannot write ${out}: ${folder} is not a writable folder`);
  if (fs.existsSync(out) && fs.statSync(out).isDirectory())
    throw new MilletError('VALIDATION_FAILED', `cannot write ${out}: it is a folder`);
  return out;
}
