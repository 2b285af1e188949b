import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';
import { Counter, Histogram } from 'prom-client';
import type { Clock } from '../core/index.ts';
import { loadMigrations, type Database, type Migration } from '../db/index.ts';
import type { BatchEffect } from './batch-effects.ts';
import { getAccount, getAccounts, listAccounts, openAccount, type ListAccountsQuery } from './accounts.ts';
import type { LedgerCommand } from './commands.ts';
import { GroupCommitWriter, type WriterStats } from './group-commit-writer.ts';
import { expireDueHolds } from './hold-expiry.ts';
import { acknowledgeEvents, pollEvents } from './outbox.ts';
import { balanceAt, getEntry, getHold, getHolds, statement, type StatementQuery } from './queries.ts';
import type {
  Account,
  BalanceAt,
  EntryReceipt,
  Hold,
  JournalEntry,
  OpenAccountCommand,
  Page,
  PlaceHoldCommand,
  PostEntryCommand,
  PostHoldCommand,
  ReverseEntryCommand,
  StatementLine,
  TransferCommand,
  VerifyReport,
  VoidHoldCommand,
} from './types.ts';
import { verifyLedger } from './verify.ts';

export const ledgerMigrations: Migration[] = loadMigrations(
  'ledger',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);

export interface LedgerOptions {
  db: Database;
  clock: Clock;
  /** Where the ledger registers its Prometheus metrics. */
  registry?: Registry;
  /** Most commands per group-commit transaction. */
  maxBatch?: number;
}

/** The ledger's public API. Every write goes through the process's single group-commit writer. */
export interface Ledger {
  openAccount(command: OpenAccountCommand): Promise<Account>;
  getAccount(id: string): Promise<Account>;
  /** Many accounts in one query (for batch jobs); unknown ids are absent from the map. */
  getAccounts(ids: readonly string[]): Promise<Map<string, Account>>;
  listAccounts(query?: ListAccountsQuery): Promise<Page<Account>>;
  /**
   * A two-leg entry. `effects`: other modules' records that must commit with it, in the same
   * group-commit transaction (see batch-effects.ts); a command an effect defers rejects with
   * `BatchDeferred`.
   */
  transfer(command: TransferCommand, options?: { effects?: readonly BatchEffect[] }): Promise<EntryReceipt>;
  /** An entry of two or more legs, all or nothing. */
  postEntry(command: PostEntryCommand): Promise<EntryReceipt>;
  placeHold(command: PlaceHoldCommand): Promise<EntryReceipt>;
  postHold(command: PostHoldCommand): Promise<EntryReceipt>;
  voidHold(command: VoidHoldCommand): Promise<EntryReceipt>;
  reverseEntry(command: ReverseEntryCommand): Promise<EntryReceipt>;
  getEntry(id: string): Promise<JournalEntry>;
  getHold(id: string): Promise<Hold>;
  /** Many holds in one query (a page of records that show theirs); unknown ids are absent from the map. */
  getHolds(ids: readonly string[]): Promise<Map<string, Hold>>;
  balanceAt(accountId: string, at: Date): Promise<BalanceAt>;
  statement(accountId: string, query?: StatementQuery): Promise<Page<StatementLine>>;
  /** Voids pending holds past their timeout; returns how many. Run by the jobs module. */
  expireHolds(limit?: number): Promise<number>;
  verify(onProgress?: (done: bigint, total: bigint) => void): Promise<VerifyReport>;
  /** Journal entries after the consumer's cursor (the outbox). */
  pollEvents(consumer: string, limit?: number): Promise<JournalEntry[]>;
  acknowledgeEvents(consumer: string, seq: bigint): Promise<void>;
  readonly writerStats: WriterStats;
  /** Writes what is queued, then refuses new commands. */
  close(): Promise<void>;
}

export function createLedger(options: LedgerOptions): Ledger {
  const { db, clock } = options;
  const metrics = options.registry ? ledgerMetrics(options.registry) : undefined;
  const writer = new GroupCommitWriter(db, clock, {
    maxBatch: options.maxBatch,
    onBatch: metrics
      ? (size, seconds, outcomes) => {
          metrics.batchSize.observe(size);
          metrics.batchSeconds.observe(seconds);
          for (const o of outcomes)
            metrics.commands.inc({
              outcome: o.ok ? (o.replayed ? 'replayed' : 'accepted') : o.error.code,
            });
        }
      : undefined,
  });
  const submit = (command: LedgerCommand, effects?: readonly BatchEffect[]): Promise<EntryReceipt> =>
    writer.submit(command, effects);

  return {
    openAccount: (command) => openAccount(db, clock, command),
    getAccount: (id) => getAccount(db, id),
    getAccounts: (ids) => getAccounts(db, ids),
    listAccounts: (query) => listAccounts(db, query),
    transfer: (c, transferOptions) =>
      submit(
        {
          type: 'entry',
          id: c.id,
          legs: [
            { accountId: c.debitAccountId, side: 'debit', amount: c.amount },
            { accountId: c.creditAccountId, side: 'credit', amount: c.amount },
          ],
          metadata: c.metadata,
        },
        transferOptions?.effects,
      ),
    postEntry: (c) => submit({ type: 'entry', ...c }),
    placeHold: (c) => submit({ type: 'hold', ...c }),
    postHold: (c) => submit({ type: 'hold_post', ...c }),
    voidHold: (c) => submit({ type: 'hold_void', ...c }),
    reverseEntry: (c) => submit({ type: 'reversal', ...c }),
    getEntry: (id) => getEntry(db, id),
    getHold: (id) => getHold(db, id),
    getHolds: (ids) => getHolds(db, ids),
    balanceAt: (accountId, at) => balanceAt(db, accountId, at),
    statement: (accountId, query) => statement(db, accountId, query),
    expireHolds: (limit) => expireDueHolds(db, writer, clock, limit),
    verify: (onProgress) => verifyLedger(db, onProgress),
    pollEvents: (consumer, limit) => pollEvents(db, consumer, limit),
    acknowledgeEvents: (consumer, seq) => acknowledgeEvents(db, clock, consumer, seq),
    writerStats: writer.stats,
    close: () => writer.close(),
  };
}

function ledgerMetrics(registry: Registry) {
  return {
    batchSize: new Histogram({
      name: 'millet_ledger_batch_size',
      help: 'Commands per group-commit transaction',
      buckets: [1, 4, 16, 64, 256, 1024, 4096],
      registers: [registry],
    }),
    batchSeconds: new Histogram({
      name: 'millet_ledger_batch_seconds',
      help: 'Time to apply and commit one group-commit batch',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    commands: new Counter({
      name: 'millet_ledger_commands_total',
      help: 'Ledger commands by outcome (accepted, replayed, or the error code)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}
