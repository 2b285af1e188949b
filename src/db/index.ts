export type { Database, DatabaseEngine, Queryable, QueryResult, TransactionOptions } from './database.ts';
export { openDatabase, type OpenDatabaseOptions } from './open-database.ts';
export { openPGlite } from './pglite-database.ts';
export { openPostgres, dropPostgresSchema, type PostgresOptions } from './postgres-database.ts';
export { applyMigrations, loadMigrations, type Migration } from './migrations.ts';
export { isRetryableTransactionError, withTransactionRetry } from './retry.ts';
export { acquireDirectoryLock, type DirectoryLock } from './lock-file.ts';
