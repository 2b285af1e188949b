import { isMilletError } from '../core/index.ts';

/** Node's system errors (ENOENT, EACCES, ECONNREFUSED, ENOTFOUND, …): the machine, not a bug. */
const SYSTEM_ERROR_CODE = /^E[A-Z0-9_]+$/;
/**
 * PostgreSQL refusing the connection rather than a statement (SQLSTATE classes 08 connection,
 * 28 authorization, 3D no such database; 57P01–03 shutting down or not yet accepting connections).
 */
const DATABASE_UNAVAILABLE_CODE = /^(08|28|3D)[0-9A-Z]{3}$|^57P0[1-3]$/;
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
]);

/** The message for a condition of the environment (a file, the database, the network), else undefined. */
function environmentMessage(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  if (NETWORK_CODES.has(code))
    return `${error.message} (is DATABASE_URL / REDIS_URL right, and the server up?)`;
  if (SYSTEM_ERROR_CODE.test(code)) return error.message;
  if ('severity' in error && DATABASE_UNAVAILABLE_CODE.test(code))
    return `the database refused the connection: ${error.message} (check DATABASE_URL)`;
  return undefined;
}

/**
 * Prints an error for a person at a terminal: a MilletError is an expected condition with a
 * message written for them, and so is one of the environment (a missing file, an unreachable
 * database), so neither gets a stack; anything else is a bug, so the stack helps.
 */
export function reportError(error: unknown): void {
  if (isMilletError(error)) {
    process.stderr.write(`millet: ${error.message}\n`);
    return;
  }
  const environment = environmentMessage(error);
  if (environment !== undefined) process.stderr.write(`millet: ${environment}\n`);
  else
    process.stderr.write(
      `millet: unexpected error\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
}
