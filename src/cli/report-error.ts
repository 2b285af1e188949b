import { isMilletError } from '../core/index.ts';

/**
 * Prints an error for a person at a terminal: a MilletError is an expected condition with a
 * message written for them (no stack); anything else is a bug, so the stack helps.
 */
export function reportError(error: unknown): void {
  if (isMilletError(error)) process.stderr.write(`millet: ${error.message}\n`);
  else
    process.stderr.write(
      `millet: unexpected error\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
}
