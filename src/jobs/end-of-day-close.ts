import { randomUUID } from 'node:crypto';
import { MilletError, businessDate as businessDateNow, type Clock } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import { addDays, endOfBusinessDate, isBusinessDate } from './business-dates.ts';

/**
 * One step of the end-of-day close (accrual, statements, settlement, fund income, …), registered
 * by the composition root in the order they must run. A step must be idempotent for a business
 * date. A long step works in chunks: it starts from `ctx.cursor` and calls `ctx.checkpoint` after
 * each chunk, so a close that stops resumes there instead of from the beginning.
 */
export interface CloseStep {
  name: string;
  run(ctx: CloseStepContext): Promise<void>;
}

export interface CloseStepContext {
  businessDate: string;
  /** The end of the business date (23:59:59.999 Asia/Shanghai): "now" for everything the step books. */
  asOf: Date;
  /** Where the step stopped last time, or null on its first run. */
  cursor: string | null;
  checkpoint(
    cursor: string | null,
    progress: { done: number | bigint; total?: number | bigint },
  ): Promise<void>;
}

export interface CloseProgress {
  businessDate: string;
  step: string;
  done: bigint;
  total: bigint | null;
}

export interface CloseRunView {
  businessDate: string;
  status: 'running' | 'completed' | 'failed';
  startedAt: Date;
  finishedAt: Date | null;
  error: string | null;
  steps: Array<{
    step: string;
    status: 'pending' | 'running' | 'completed' | 'failed';
    done: bigint;
    total: bigint | null;
    error: string | null;
  }>;
}

export interface EndOfDayCloseOptions {
  db: Database;
  clock: Clock;
  steps: readonly CloseStep[];
  /** A running close whose heartbeat is older than this is taken to have died and may be resumed. */
  leaseMs?: number;
  /**
   * How often a close renews its heartbeat while it holds a run (default: a third of the lease), so
   * a step that runs longer than the lease between checkpoints is not taken over while it still
   * runs. Real time: the timer is the process's, the time it writes is the clock's.
   */
  heartbeatMs?: number;
  /**
   * No other close runner can reach this database: the embedded engine belongs to one process (its
   * directory lock), and the app makes one runner per database. A run marked running that this
   * runner does not hold is then one whose process died (kill -9, a second Ctrl-C, a crash), and it
   * is resumed at once instead of being refused until its lease runs out.
   */
  soleRunner?: boolean;
}

export interface CloseOptions {
  onProgress?: (progress: CloseProgress) => void;
  /** Allow closing a date that has not ended yet (demos and tests moving time forward). */
  fastForward?: boolean;
}

export interface EndOfDayClose {
  /**
   * Closes one business date (default: yesterday's). Dates close in order; closing a date again
   * after it completed does nothing; a failed or abandoned close resumes at the step that stopped.
   */
  close(businessDate?: string, options?: CloseOptions): Promise<CloseRunView>;
  /** Fast-forward: closes the next `days` dates after the last one closed (demos and tests). */
  closeDays(days: number, options?: Omit<CloseOptions, 'fastForward'>): Promise<CloseRunView[]>;
  getRun(businessDate: string): Promise<CloseRunView>;
  /** The latest runs, newest business date first, each with its steps' progress (the console). */
  listRuns(limit?: number): Promise<CloseRunView[]>;
  lastClosedDate(): Promise<string | null>;
  /**
   * A graceful shutdown: refuses new closes, and stops the ones running here at their next
   * checkpoint, handing their runs back (failed, progress and checkpoints kept) so the next close
   * resumes at once instead of waiting out the lease. A close whose step reaches no checkpoint
   * within `graceMs` is handed back anyway and its `close` rejects; its later writes are fenced off.
   */
  shutdown(options?: { graceMs?: number }): Promise<void>;
}

/** A close this instance is running, from before its claim until it ends. */
interface HeldRun {
  businessDate: string;
  /** The owner token its claim writes (known before the claim commits: see `heldHere`). */
  token: string;
  /** The claim's owner token, once claimed. */
  owner: string | null;
  /** The step marked running, if any (the one a forced hand-back marks failed). */
  step: string | null;
  /** The heartbeat found the run taken over by another close. */
  lost: boolean;
  /** Handed back by `shutdown` while its step still ran. */
  handedBack: boolean;
  stopHeartbeat: () => Promise<void>;
  /** Rejects the caller's `close` when the run is handed back before the close ends. */
  abandon: (error: Error) => void;
  ended: Promise<void>;
}

/** The most dates one fast-forward closes (ten years); the CLI checks it before opening anything. */
export const MAX_CLOSE_DAYS = 3660;

/**
 * Lets the event loop turn. On the embedded database every query resolves without real I/O, so a
 * close is one long chain of promises: without this, its heartbeat timer and a SIGINT or SIGTERM
 * handler would run only once the whole close had finished.
 */
const turnOfTheEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** How far from today the first close of an installation may be (see `claim`). */
const FIRST_CLOSE_WITHIN_DAYS = 366;

export function createEndOfDayClose(options: EndOfDayCloseOptions): EndOfDayClose {
  const { db, clock, steps } = options;
  const leaseMs = options.leaseMs ?? 10 * 60_000;
  const heartbeatMs = options.heartbeatMs ?? Math.max(1, Math.floor(leaseMs / 3));
  const held = new Set<HeldRun>();
  let shuttingDown = false;
  const names = new Set(steps.map((s) => s.name));
  if (names.size !== steps.length) throw new Error('close steps need distinct names');

  async function lastClosedDate(): Promise<string | null> {
    const result = await db.query<{ d: string | null }>(
      `SELECT max(business_date) AS d FROM jobs_close_runs WHERE status = 'completed'`,
    );
    return result.rows[0]?.d ?? null;
  }

  async function getRun(businessDate: string): Promise<CloseRunView> {
    const run = await db.query<{
      business_date: string;
      status: CloseRunView['status'];
      started_at: Date;
      finished_at: Date | null;
      error: string | null;
    }>('SELECT * FROM jobs_close_runs WHERE business_date = $1', [businessDate]);
    const row = run.rows[0];
    if (!row) throw new MilletError('NOT_FOUND', `No close has run for ${businessDate}`, { businessDate });
    const stepRows = await db.query<{
      step: string;
      status: CloseRunView['steps'][number]['status'];
      done: bigint;
      total: bigint | null;
      error: string | null;
    }>(
      'SELECT step, status, done, total, error FROM jobs_close_steps WHERE business_date = $1 ORDER BY position',
      [businessDate],
    );
    return {
      businessDate: row.business_date,
      status: row.status,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
      error: row.error,
      steps: stepRows.rows,
    };
  }

  /**
   * Takes the run for the date, or says why not. Returns the claim's owner token, or null when the
   * date already completed.
   */
  async function claim(businessDate: string, owner: string): Promise<string | null> {
    return db.transaction(async (tx) => {
      const now = clock.now();
      // Whether a run marked running is still being run by a live close.
      const live = (run: { heartbeat_at: Date; owner: string | null }) =>
        options.soleRunner ? heldHere(run.owner) : now.getTime() - run.heartbeat_at.getTime() < leaseMs;
      // One claim at a time, so two claims cannot both see no other close running (a claim is a
      // few statements once a day; reads of the runs are not blocked).
      await tx.query('LOCK TABLE jobs_close_runs IN SHARE ROW EXCLUSIVE MODE');
      // One close at a time: before any date has closed, the order check below lets any date
      // through, and two dates asked for at once would both run, the later one possibly first.
      const running = (
        await tx.query<{ business_date: string; heartbeat_at: Date; owner: string | null }>(
          `SELECT business_date, heartbeat_at, owner FROM jobs_close_runs
            WHERE status = 'running' AND business_date <> $1`,
          [businessDate],
        )
      ).rows.find(live);
      if (running)
        throw new MilletError(
          'IDEMPOTENCY_KEY_IN_PROGRESS',
          `The close of ${running.business_date} is running; dates close one at a time`,
          { running: running.business_date },
        );
      const previous = await tx.query<{ d: string | null; n: bigint }>(
        `SELECT max(business_date) AS d, count(*)::int8 AS n FROM jobs_close_runs WHERE status = 'completed'`,
      );
      const lastClosed = previous.rows[0]?.d ?? null;
      const existing = await tx.query<{ status: string; heartbeat_at: Date; owner: string | null }>(
        'SELECT status, heartbeat_at, owner FROM jobs_close_runs WHERE business_date = $1 FOR UPDATE',
        [businessDate],
      );
      const row = existing.rows[0];
      if (row?.status === 'completed') return null;
      if (lastClosed === null && !row) {
        // The first close fixes where the dates start: every later one must follow it day by day,
        // and nothing before it can close. A typo (1925 for 2025, or a far fast-forward) would leave
        // the installation unable to close today's business; there is no undoing a completed run.
        const today = businessDateNow(clock);
        if (
          businessDate < addDays(today, -FIRST_CLOSE_WITHIN_DAYS) ||
          businessDate > addDays(today, FIRST_CLOSE_WITHIN_DAYS)
        )
          throw new MilletError(
            'VALIDATION_FAILED',
            `No date has closed yet, and the first close fixes where closing starts: ${businessDate} is ` +
              `more than ${FIRST_CLOSE_WITHIN_DAYS} days from today (${today}); close a recent date first`,
            { today },
          );
      }
      if (lastClosed !== null && businessDate < lastClosed) {
        throw new MilletError(
          'VALIDATION_FAILED',
          `${businessDate} is before the last closed date ${lastClosed}`,
        );
      }
      if (lastClosed !== null && businessDate !== addDays(lastClosed, 1)) {
        throw new MilletError(
          'VALIDATION_FAILED',
          `Dates close in order: close ${addDays(lastClosed, 1)} before ${businessDate}`,
          { next: addDays(lastClosed, 1) },
        );
      }
      const alreadyRunning = () =>
        new MilletError('IDEMPOTENCY_KEY_IN_PROGRESS', `The close of ${businessDate} is already running`);
      if (row?.status === 'running' && live(row)) throw alreadyRunning();
      if (row) {
        await tx.query(
          `UPDATE jobs_close_runs SET status = 'running', heartbeat_at = $2, error = NULL, owner = $3
            WHERE business_date = $1`,
          [businessDate, now, owner],
        );
      } else {
        // No row to lock yet: a close of the same date started at the same moment may insert it
        // first (this insert then waits for it and inserts nothing), and that close is running.
        const inserted = await tx.query(
          `INSERT INTO jobs_close_runs (business_date, status, started_at, heartbeat_at, owner)
           VALUES ($1, 'running', $2, $2, $3)
           ON CONFLICT (business_date) DO NOTHING RETURNING 1`,
          [businessDate, now, owner],
        );
        if (inserted.rowCount === 0) throw alreadyRunning();
      }
      // New steps (added since a failed run) join at their position; known steps keep their progress.
      for (const [position, step] of steps.entries()) {
        await tx.query(
          `INSERT INTO jobs_close_steps (business_date, step, position, status) VALUES ($1, $2, $3, 'pending')
           ON CONFLICT (business_date, step) DO NOTHING`,
          [businessDate, step.name, position],
        );
      }
      return owner;
    });
  }

  /** A close of this runner holds (or is claiming) the run with this owner token. */
  function heldHere(owner: string | null): boolean {
    return owner !== null && [...held].some((run) => run.token === owner);
  }

  function takenOver(businessDate: string) {
    return new MilletError(
      'IDEMPOTENCY_KEY_IN_PROGRESS',
      `The close of ${businessDate} was taken over by another close after its lease ran out`,
    );
  }

  function interrupted(businessDate: string) {
    return new MilletError(
      'CLOSE_INTERRUPTED',
      `The close of ${businessDate} stopped: the process running it is shutting down. ` +
        'Closing the date again resumes it where it stopped',
      { businessDate },
    );
  }

  /**
   * Runs `write` in one transaction with the run's row locked, if this close still owns the run.
   * A close whose lease went stale while it ran (its process stalled, or lost the database) may have
   * been taken over; it must then stop without touching the run, or it would mark the run failed
   * under the new owner (letting a third close in beside it) or move a cursor the new owner relies on.
   */
  async function asOwner(run: HeldRun, write: (tx: Queryable) => Promise<void>) {
    await db.transaction(async (tx) => {
      const owned = await tx.query(
        'SELECT 1 FROM jobs_close_runs WHERE business_date = $1 AND owner = $2 FOR UPDATE',
        [run.businessDate, run.owner],
      );
      if (owned.rowCount === 0)
        throw run.handedBack ? interrupted(run.businessDate) : takenOver(run.businessDate);
      await write(tx);
    });
  }

  /**
   * Records that the close stopped (its step failed, or it was interrupted) and hands the run back:
   * it belongs to no close until the next claim, which resumes it at once.
   */
  async function recordStop(run: HeldRun, step: string | null, message: string) {
    await asOwner(run, async (tx) => {
      if (step !== null)
        await tx.query(
          `UPDATE jobs_close_steps SET status = 'failed', error = $3
            WHERE business_date = $1 AND step = $2 AND status <> 'completed'`,
          [run.businessDate, step, message],
        );
      await tx.query(
        `UPDATE jobs_close_runs SET status = 'failed', error = $2, owner = NULL WHERE business_date = $1`,
        [run.businessDate, step === null ? message : `${step}: ${message}`],
      );
    });
  }

  /**
   * Renews the run's heartbeat every `heartbeatMs` until stopped. Only while this close still owns
   * the running run: a renewal must never extend the lease of the close that took it over.
   */
  function startHeartbeat(run: HeldRun): () => Promise<void> {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let beat: Promise<void> | undefined;
    const renew = async () => {
      try {
        const renewed = await db.query(
          `UPDATE jobs_close_runs SET heartbeat_at = $3
            WHERE business_date = $1 AND owner = $2 AND status = 'running'`,
          [run.businessDate, run.owner, clock.now()],
        );
        if (renewed.rowCount === 0) {
          run.lost = true;
          stopped = true;
        }
      } catch {
        // A renewal that failed (the database briefly away) is tried again at the next beat; the
        // lease leaves room for two more.
      }
    };
    const schedule = () => {
      if (stopped) return;
      timer = setTimeout(() => {
        beat = renew().finally(() => {
          beat = undefined;
          schedule();
        });
      }, heartbeatMs);
      // The close itself keeps the process alive while it runs; its heartbeat must not.
      timer.unref();
    };
    schedule();
    return async () => {
      stopped = true;
      clearTimeout(timer);
      await beat;
    };
  }

  async function close(businessDate?: string, options: CloseOptions = {}): Promise<CloseRunView> {
    const date = businessDate ?? addDays(businessDateNow(clock), -1);
    if (!isBusinessDate(date))
      throw new MilletError('VALIDATION_FAILED', `"${date}" is not a date (YYYY-MM-DD)`);
    // asOf is the date's last millisecond, still part of it: the date is over only after it.
    if (!options.fastForward && clock.now() <= endOfBusinessDate(date)) {
      throw new MilletError(
        'VALIDATION_FAILED',
        `${date} has not ended yet in Asia/Shanghai; it can be closed from midnight`,
      );
    }
    if (shuttingDown) throw interrupted(date);
    let abandon!: (error: Error) => void;
    const abandoned = new Promise<never>((_resolve, reject) => (abandon = reject));
    let ended!: () => void;
    const run: HeldRun = {
      businessDate: date,
      token: randomUUID(),
      owner: null,
      step: null,
      lost: false,
      handedBack: false,
      stopHeartbeat: async () => {},
      abandon,
      ended: new Promise<void>((resolve) => (ended = resolve)),
    };
    held.add(run);
    const closing = closeHeld(run, options.onProgress).finally(() => {
      held.delete(run);
      ended();
    });
    // A close handed back by `shutdown` answers its caller now; its step's code may still be
    // running, but every write it tries is fenced off.
    return Promise.race([closing, abandoned]);
  }

  async function closeHeld(run: HeldRun, onProgress: CloseOptions['onProgress']): Promise<CloseRunView> {
    const date = run.businessDate;
    const asOf = endOfBusinessDate(date);
    run.owner = await claim(date, run.token);
    if (run.owner === null) return getRun(date);
    run.stopHeartbeat = startHeartbeat(run);
    try {
      for (const step of steps) {
        const state = await db.query<{ status: string; cursor: string | null }>(
          'SELECT status, cursor FROM jobs_close_steps WHERE business_date = $1 AND step = $2',
          [date, step.name],
        );
        if (state.rows[0]?.status === 'completed') continue;
        await turnOfTheEventLoop();
        if (shuttingDown) {
          const error = interrupted(date);
          await recordStop(run, null, error.message).catch(() => {});
          throw error;
        }
        run.step = step.name;
        await asOwner(run, async (tx) => {
          await tx.query(
            `UPDATE jobs_close_steps SET status = 'running', started_at = coalesce(started_at, $3), error = NULL
              WHERE business_date = $1 AND step = $2`,
            [date, step.name, clock.now()],
          );
        });
        try {
          await step.run({
            businessDate: date,
            asOf,
            cursor: state.rows[0]?.cursor ?? null,
            async checkpoint(cursor, progress) {
              await turnOfTheEventLoop();
              // Learnt without a round trip: stop here rather than after another chunk of work.
              if (shuttingDown) throw interrupted(date);
              if (run.lost) throw takenOver(date);
              const done = BigInt(progress.done);
              const total = progress.total === undefined ? null : BigInt(progress.total);
              await asOwner(run, async (tx) => {
                await tx.query(
                  `UPDATE jobs_close_steps SET cursor = $3, done = $4, total = $5 WHERE business_date = $1 AND step = $2`,
                  [date, step.name, cursor, done, total],
                );
                await tx.query('UPDATE jobs_close_runs SET heartbeat_at = $2 WHERE business_date = $1', [
                  date,
                  clock.now(),
                ]);
              });
              onProgress?.({ businessDate: date, step: step.name, done, total });
            },
          });
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          // Only the owner records the failure; a close that lost the run leaves it to its new owner.
          await recordStop(run, step.name, message).catch(() => {});
          throw error;
        }
        await asOwner(run, async (tx) => {
          await tx.query(
            `UPDATE jobs_close_steps SET status = 'completed', finished_at = $3 WHERE business_date = $1 AND step = $2`,
            [date, step.name, clock.now()],
          );
        });
        run.step = null;
      }
      await asOwner(run, async (tx) => {
        await tx.query(
          `UPDATE jobs_close_runs SET status = 'completed', finished_at = $2 WHERE business_date = $1`,
          [date, clock.now()],
        );
      });
    } finally {
      await run.stopHeartbeat();
    }
    return getRun(date);
  }

  async function shutdown({ graceMs = 5_000 }: { graceMs?: number } = {}): Promise<void> {
    shuttingDown = true;
    const running = [...held];
    if (running.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(running.map((run) => run.ended)),
      new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
    // Closes whose step reached no checkpoint in time: hand their runs back from here.
    for (const run of running) {
      if (!held.has(run)) continue;
      // No longer this instance's to wait for: a second shutdown (the CLI's signal, then the app's
      // close) returns at once.
      held.delete(run);
      const error = interrupted(run.businessDate);
      run.handedBack = true;
      await run.stopHeartbeat();
      if (run.owner !== null) await recordStop(run, run.step, error.message).catch(() => {});
      run.abandon(error);
    }
  }

  return {
    close,
    async closeDays(days, options = {}) {
      if (!Number.isInteger(days) || days < 1 || days > MAX_CLOSE_DAYS) {
        throw new MilletError('VALIDATION_FAILED', `days must be a whole number from 1 to ${MAX_CLOSE_DAYS}`);
      }
      const last = await lastClosedDate();
      let next = last ? addDays(last, 1) : addDays(businessDateNow(clock), -1);
      const runs: CloseRunView[] = [];
      for (let i = 0; i < days; i++, next = addDays(next, 1)) {
        runs.push(await close(next, { ...options, fastForward: true }));
      }
      return runs;
    },
    getRun,
    async listRuns(limit = 30) {
      const dates = await db.query<{ business_date: string }>(
        'SELECT business_date FROM jobs_close_runs ORDER BY business_date DESC LIMIT $1',
        [Math.max(1, Math.min(366, Math.trunc(limit)))],
      );
      const runs: CloseRunView[] = [];
      for (const row of dates.rows) runs.push(await getRun(row.business_date));
      return runs;
    },
    lastClosedDate,
    shutdown,
  };
}
