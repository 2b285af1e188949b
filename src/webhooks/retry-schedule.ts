/**
 * When a failed delivery is tried again. Attempt 1 goes at once; after failed attempt n the next
 * waits `delays[n - 1]`, scaled by a random factor in [0.8, 1.2] so that deliveries that failed
 * together (an endpoint's outage) do not all come back in the same second. With the default
 * schedule a delivery gets 8 attempts over about 31 hours, then it is marked failed.
 */
export const defaultRetryDelaysMs: readonly number[] = [
  5_000, // 5 s
  30_000, // 30 s
  2 * 60_000, // 2 min
  10 * 60_000, // 10 min
  60 * 60_000, // 1 h
  6 * 60 * 60_000, // 6 h
  24 * 60 * 60_000, // 24 h
];

export const RETRY_JITTER = 0.2;

/** Milliseconds to wait after failed attempt `attempt` (1-based), or undefined when it was the last. */
export function retryDelayMs(
  delays: readonly number[],
  attempt: number,
  random: () => number = Math.random,
): number | undefined {
  const base = delays[attempt - 1];
  if (base === undefined) return undefined;
  return Math.round(base * (1 - RETRY_JITTER + 2 * RETRY_JITTER * random()));
}
