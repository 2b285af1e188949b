export { createLedger, ledgerMigrations, type Ledger, type LedgerOptions } from './ledger.ts';
export type { ListAccountsQuery } from './accounts.ts';
export { MAX_AMOUNT } from './commands.ts';
export type { StatementQuery } from './queries.ts';
export type * from './types.ts';
export {
  BatchDeferred,
  batchEffect,
  type Admission,
  type BatchEffect,
  type BatchHook,
  type EffectOutcome,
} from './batch-effects.ts';
