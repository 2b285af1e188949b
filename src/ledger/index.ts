export { createLedger, ledgerMigrations, type Ledger, type LedgerOptions } from './ledger.ts';
export type { ListAccountsQuery } from './accounts.ts';
export type { StatementQuery } from './queries.ts';
export type * from './types.ts';
