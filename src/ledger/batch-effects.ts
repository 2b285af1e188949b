import type { MilletError } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import type { EntryReceipt } from './types.ts';

/**
 * Work of another module that must commit atomically with a ledger command: the payment record
 * beside the money that pays it, the limit it is charged against, the idempotent response that
 * reports it. A command carries effects; the group-commit writer runs every effect of a batch in
 * the batch's own transaction, so one commit serves the ledger entries and all their records.
 *
 * A hook sees every item of the batch at once, so it works set-based:
 * 1. `load` (after the ledger's head lock, before the ledger reads its accounts) reads and locks
 *    what the items need, in one or two statements;
 * 2. for each command in batch order, `admit` judges the item against that state (plus what the
 *    batch's earlier commands changed in it), synchronously: it may refuse the command (throw a
 *    MilletError: nothing of the command is written, not even a failed ledger id), defer it (return
 *    `'defer'`: the command leaves the batch untouched and its caller gets `BatchDeferred`, to take
 *    its ordinary path), or let it through with a `settle` callback;
 * 3. the ledger applies the admitted command; then every admitted effect's `settle` is called with
 *    the command's outcome (also a refusal by the ledger or by a later effect), and records in its
 *    state what the outcome leaves behind;
 * 4. `write`, after the ledger's own writes, stores it all, set-based.
 *
 * The transaction may run again (a serialization failure, a deadlock, a batch split to isolate a
 * fault), so hooks keep everything in the state `load` returns and nothing in the items.
 */
export interface BatchHook<Item, State> {
  /** Names the hook in errors and metrics. */
  readonly name: string;
  load(tx: Queryable, items: readonly Item[]): Promise<State>;
  admit(state: State, item: Item): Admission;
  write(tx: Queryable, state: State): Promise<void>;
}

/** What `admit` decides for one item; throwing a MilletError refuses the command. */
export type Admission = 'defer' | { settle: (outcome: EffectOutcome) => void };

/** A command's final outcome as its effects see it. */
export type EffectOutcome =
  | { ok: true; receipt: EntryReceipt; replayed: boolean }
  /** `byLedger`: the ledger refused it (a bound, an unknown account), not one of its effects. */
  | { ok: false; error: MilletError; byLedger: boolean };

/** One item for one hook, as a command carries it. */
export interface BatchEffect {
  readonly hook: BatchHook<unknown, unknown>;
  readonly item: unknown;
}

/** Pairs an item with its hook, keeping the item's type checked against the hook's. */
export function batchEffect<Item, State>(hook: BatchHook<Item, State>, item: Item): BatchEffect {
  return { hook: hook as BatchHook<unknown, unknown>, item };
}

/**
 * The rejection of a command an effect deferred: nothing of it was written, and its caller should
 * take its ordinary path (for instance because its idempotency key or record already exists).
 */
export class BatchDeferred extends Error {
  readonly code = 'BATCH_DEFERRED';
  constructor(readonly hookName: string) {
    super(`Deferred by ${hookName}`);
    this.name = 'BatchDeferred';
  }
}
