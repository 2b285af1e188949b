export { buildServer, type ServerOptions } from './server.ts';
export { builtWebRoot } from './web-app.ts';
export { apiMigrations } from './api-migrations.ts';
export { errorStatuses } from './error-statuses.ts';
export { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, problemTypeUri, type Problem } from './problem.ts';
export { createLogger, type LoggerOptions } from './logger.ts';
export {
  createOperatorKeyStore,
  ensureBootstrapKey,
  operatorScopes,
  type CreatedOperatorKey,
  type OperatorKey,
  type OperatorKeyStore,
  type OperatorScope,
} from './operator-keys.ts';
export { deleteExpiredIdempotencyKeys, IDEMPOTENCY_TTL_MS } from './idempotency-store.ts';
export {
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENT_REPLAYED_HEADER,
  type IdempotencyOptions,
} from './idempotency-hooks.ts';
export { milletVersion } from './version.ts';
