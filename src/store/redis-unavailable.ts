import { MilletError } from '../core/index.ts';

/** The `code` of a socket error: the server is not there, or went away mid-command. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);

/**
 * Whether ioredis gave up because Redis cannot be reached (as opposed to Redis answering with an
 * error, such as a script's): its retries per command ran out, the connection was closed, or a
 * Cluster found no node. ioredis marks these by class name and message, not by a code.
 */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    error.name === 'ClusterAllFailedError' ||
    error.message === 'Connection is closed.' ||
    error.message === 'None of startup nodes is available' ||
    error.message.startsWith("Stream isn't writeable")
  );
}

/** Rethrows `error`, as `STORE_ENGINE_UNAVAILABLE` when it says Redis cannot be reached. */
export function rethrowUnavailable(error: unknown): never {
  if (isRedisUnavailable(error))
    throw new MilletError('STORE_ENGINE_UNAVAILABLE', 'The stock engine (Redis) cannot be reached', {});
  throw error;
}

/**
 * The client, with every command that fails because Redis is unreachable failing as
 * `STORE_ENGINE_UNAVAILABLE` (503: try again shortly) instead of an unexpected 500. Other errors
 * pass through unchanged, so a fault in the engine itself still shows as one. (A MULTI's `exec`
 * is called on the transaction object, not the client: catch it with `rethrowUnavailable`.)
 */
export function reportingUnavailable<T extends object>(client: T): T {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        return result instanceof Promise ? result.catch(rethrowUnavailable) : result;
      };
    },
  });
}
