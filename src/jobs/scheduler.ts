import type { Logger } from 'pino';
import type { Ledger } from '../ledger/index.ts';

/** A periodic task. `run` returns how much it did (for the log), or nothing. */
export interface Job {
  name: string;
  run(): Promise<number | void>;
}

export interface JobsOptions {
  ledger: Ledger;
  logger: Logger;
  /** Pause between the end of one round and the start of the next. */
  intervalMs?: number;
  /** More jobs to run each round after the ledger's hold expiry (the composition root adds them). */
  jobs?: readonly Job[];
}

export interface RunningJobs {
  /** Runs one round now (tests); resolves when it is done. Never overlaps a running round. */
  runNow(): Promise<void>;
  /** Stops scheduling and waits for a round in progress to finish. */
  stop(): Promise<void>;
}

/**
 * A tiny in-process scheduler. Rounds are chained with setTimeout after the previous one ends,
 * so a slow round delays the next instead of overlapping it; a failing job is logged and the
 * others still run. Every job it runs is idempotent, so several processes may run it at once.
 */
export function startJobs(options: JobsOptions): RunningJobs {
  const intervalMs = options.intervalMs ?? 5_000;
  const logger = options.logger.child({ module: 'jobs' });
  const jobs: Job[] = [
    { name: 'ledger.expire-holds', run: () => options.ledger.expireHolds() },
    ...(options.jobs ?? []),
  ];
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> | undefined;

  async function runRound(): Promise<void> {
    for (const job of jobs) {
      if (stopped) return;
      try {
        const done = await job.run();
        if (typeof done === 'number' && done > 0) logger.info({ job: job.name, done }, 'job did work');
      } catch (error) {
        logger.error({ err: error, job: job.name }, 'job failed');
      }
    }
  }

  function runOnce(): Promise<void> {
    round ??= runRound().finally(() => {
      round = undefined;
    });
    return round;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      void runOnce().then(schedule);
    }, intervalMs);
    // Jobs alone never keep the process alive; the HTTP server does.
    timer.unref();
  }

  schedule();
  return {
    runNow: runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await round;
    },
  };
}
