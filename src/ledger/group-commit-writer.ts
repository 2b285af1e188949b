import { MilletError, type Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import type { BatchEffect } from './batch-effects.ts';
import { applyBatch, type Outcome } from './batch.ts';
import { prepareCommand, type LedgerCommand, type PreparedCommand } from './commands.ts';
import type { EntryReceipt } from './types.ts';

interface Queued {
  prepared: PreparedCommand;
  resolve: (receipt: EntryReceipt) => void;
  reject: (error: unknown) => void;
}

export interface WriterStats {
  batches: number;
  commands: number;
  largestBatch: number;
}

export interface GroupCommitOptions {
  /** Most commands in one database transaction. */
  maxBatch?: number;
  /** Called after every committed batch, for metrics. */
  onBatch?: (size: number, seconds: number, outcomes: readonly Outcome[]) => void;
}

/**
 * The per-process single writer. Callers queue commands; while one batch is being committed the
 * next ones gather, so under load each transaction (and each fsync) carries hundreds of transfers and
 * with no load a command is written at once. A transfer is acknowledged only after its batch commits.
 *
 * Pipelined: once a batch has done its work and only its COMMIT (the WAL flush) remains, the next
 * batch begins on another connection. Its first statement waits for the ledger head's row lock, so
 * it reads nothing until the previous batch has committed (or rolled back), and batches still apply
 * strictly one after another; what overlaps is the commit's flush and round trips with the next
 * batch's gathering, BEGIN and lock request. At most two batches are in flight.
 */
export class GroupCommitWriter {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #maxBatch: number;
  readonly #onBatch: GroupCommitOptions['onBatch'];
  #queue: Queued[] = [];
  #running: Promise<void> | null = null;
  #closed = false;
  readonly stats: WriterStats = { batches: 0, commands: 0, largestBatch: 0 };

  constructor(db: Database, clock: Clock, options: GroupCommitOptions = {}) {
    this.#db = db;
    this.#clock = clock;
    this.#maxBatch = options.maxBatch ?? 4000;
    this.#onBatch = options.onBatch;
  }

  /** Queues a command, with the effects (of other modules) that must commit with it. */
  submit(command: LedgerCommand, effects?: readonly BatchEffect[]): Promise<EntryReceipt> {
    if (this.#closed)
      return Promise.reject(new MilletError('LEDGER_UNAVAILABLE', 'The ledger is shutting down'));
    let prepared: PreparedCommand;
    try {
      prepared = prepareCommand(command, effects);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ prepared, resolve, reject });
      this.#running ??= this.#drain();
    });
  }

  /** Stops taking commands and waits for the queued ones to be written. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    let committing: Promise<void> | undefined;
    try {
      for (;;) {
        if (this.#queue.length === 0) {
          if (!committing) break;
          await committing;
          committing = undefined;
          continue;
        }
        const batch = this.#queue.splice(0, this.#maxBatch);
        let applied!: () => void;
        const ready = new Promise<void>((resolve) => (applied = resolve));
        const written = this.#write(batch, applied);
        // Wait until this batch only has its commit left (or is done), and the one before it is done.
        await Promise.race([ready, written]);
        if (committing) await committing;
        committing = written;
        // PGlite answers through microtasks alone; yield so timers and sockets get a turn between
        // batches (and the next batch gathers the requests they bring).
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      // Cleared in the same tick as the emptiness check, so a command queued after it starts a new drain.
      this.#running = null;
    }
  }

  /** `applied` is called when the batch's statements are done and only its COMMIT remains. */
  async #write(batch: Queued[], applied: () => void = () => {}): Promise<void> {
    const started = performance.now();
    let outcomes: Outcome[];
    try {
      outcomes = await this.#db.transaction(async (tx) => {
        const result = await applyBatch(
          tx,
          batch.map((q) => q.prepared),
          this.#clock.now(),
        );
        applied();
        return result;
      });
    } catch (error) {
      // Something other than a rule failed (a constraint, a lost connection). Split the batch so the
      // fault lands only on the command that causes it, never on its neighbours.
      if (batch.length === 1 || isConnectionError(error)) {
        for (const queued of batch) queued.reject(error);
        return;
      }
      const half = Math.ceil(batch.length / 2);
      await this.#write(batch.slice(0, half));
      await this.#write(batch.slice(half));
      return;
    }
    this.stats.batches += 1;
    this.stats.commands += batch.length;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
    this.#onBatch?.(batch.length, (performance.now() - started) / 1000, outcomes);
    outcomes.forEach((outcome, i) => {
      const queued = batch[i]!;
      if (outcome.ok) queued.resolve(outcome.receipt);
      else queued.reject(outcome.error);
    });
  }
}

/** The database itself is unreachable: splitting the batch would only fail each half again. */
function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' && (code.startsWith('08') || code.startsWith('57P') || code.startsWith('ECONN'))
  );
}
