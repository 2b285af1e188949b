import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Orders } from './orders.ts';
import type { StockEngine } from './stock-engine.ts';
import type { Sale } from './types.ts';

/** The longest pause between tries while batches keep failing. */
const MAX_BACKOFF_MS = 2_000;

export interface OrderWriterOptions {
  engine: StockEngine;
  orders: Orders;
  /** The sales to drain (live ones). */
  sales: () => readonly Sale[];
  logger?: Logger | undefined;
  /** Entries per database transaction (default 500). */
  batchSize?: number;
  /** An entry another writer holds this long without acknowledging is taken over (default 30 s). */
  minIdleMs?: number;
  /** Pause when there is nothing to do (default 20 ms). */
  idleMs?: number;
  consumer?: string;
}

/**
 * Turns accepted attempts into orders, asynchronously and in batches. It reads the engine's
 * hand-off log, writes a batch in one transaction, and only then acknowledges it: a writer killed
 * anywhere in between leaves its entries pending, and the next writer (this process restarted, or
 * another) claims them once idle. Writing is idempotent by attempt id, so an entry written but not
 * acknowledged is harmless when it comes round again.
 */
export class OrderWriter {
  readonly consumer: string;
  readonly #o: Required<Omit<OrderWriterOptions, 'logger' | 'consumer'>> & { logger?: Logger | undefined };
  #running: Promise<void> | undefined;
  #stopping = false;
  #killed = false;
  #wake: (() => void) | undefined;
  written = 0;

  constructor(options: OrderWriterOptions) {
    this.consumer = options.consumer ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    // Field by field: an option passed as undefined keeps its default.
    this.#o = {
      ...options,
      batchSize: options.batchSize ?? 500,
      minIdleMs: options.minIdleMs ?? 30_000,
      idleMs: options.idleMs ?? 20,
    };
  }

  start(): void {
    if (this.#running) return;
    this.#running = this.#loop();
  }

  /** One pass over every sale; returns the entries written. */
  async runOnce(): Promise<number> {
    let total = 0;
    for (const sale of this.#o.sales()) {
      for (;;) {
        if (this.#killed) return total;
        const entries = await this.#o.engine.readAccepted(sale.id, this.consumer, {
          count: this.#o.batchSize,
          minIdleMs: this.#o.minIdleMs,
        });
        if (this.#killed || entries.length === 0) break;
        await this.#o.orders.writeAccepted(sale, entries);
        if (this.#killed) return total;
        await this.#o.engine.ack(
          sale.id,
          entries.map((e) => e.entryId),
        );
        total += entries.length;
        this.written += entries.length;
        if (entries.length < this.#o.batchSize) break;
      }
    }
    return total;
  }

  async #loop(): Promise<void> {
    // Failures in a row: while the engine or the database is away the writer backs off (doubling
    // from the idle pause to MAX_BACKOFF_MS) and logs the first failure and the recovery, not a
    // line per try.
    let failures = 0;
    while (!this.#stopping && !this.#killed) {
      let done = 0;
      try {
        done = await this.runOnce();
        if (failures > 0) this.#o.logger?.info({ failures }, 'order writer recovered');
        failures = 0;
      } catch (error) {
        if (failures === 0) this.#o.logger?.error({ err: error }, 'order writer batch failed; retrying');
        failures += 1;
      }
      const pause =
        failures === 0 ? this.#o.idleMs : Math.min(this.#o.idleMs * 2 ** failures, MAX_BACKOFF_MS);
      if (done === 0 && !this.#stopping && !this.#killed)
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, pause);
          this.#wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
    }
  }

  /** Finishes the batch in hand, then stops. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#running;
  }

  /**
   * Stops at once, abandoning the batch in hand unacknowledged (what a crash does); for tests and
   * for shutting down without waiting for the database.
   */
  kill(): void {
    this.#killed = true;
    this.#wake?.();
  }
}
