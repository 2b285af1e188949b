import { setTimeout as sleep } from 'node:timers/promises';

/** SQLSTATEs that mean "the same transaction may well succeed if run again". */
const retryableSqlStates = new Set(['40001', '40P01']);

export function isRetryableTransactionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && retryableSqlStates.has(code);
}

/** Runs `attempt` again on retryable errors, with jittered exponential backoff. */
export async function withTransactionRetry<T>(attempt: () => Promise<T>, maxRetries: number): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isRetryableTransactionError(error) || tries >= maxRetries) throw error;
      const backoffMs = Math.min(200, 2 ** tries) * (0.5 + Math.random());
      await sleep(backoffMs);
    }
  }
}
