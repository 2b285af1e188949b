export {
  createStore,
  storeMigrations,
  STORE_MERCHANT_ID,
  STORE_DEPOSITS_ACCOUNT_ID,
  type AttemptAnswer,
  type AttemptCommand,
  type DriftReport,
  type LiveSaleMetrics,
  type Store,
  type StoreMerchants,
  type StoreOptions,
  type StoreUsers,
} from './store.ts';
export type { CreateSaleCommand } from './sales.ts';
export { DEFAULT_ADMISSION_WINDOW_MS } from './sales.ts';
export { RETURN_DAYS, returnDeadline } from './returns.ts';
export { InProcessStockEngine } from './in-process-engine.ts';
export { RedisStockEngine } from './redis-engine.ts';
export { OrderWriter } from './order-writer.ts';
export { createStandaloneOrderWriter } from './standalone-writer.ts';
export {
  rejectReasons,
  type AttemptResult,
  type RejectReason,
  type SaleCounters,
  type SaleRules,
  type StockEngine,
} from './stock-engine.ts';
export {
  DELIVERY_TARGET_MS,
  RESERVATION_MS,
  type Order,
  type OrderReturn,
  type OrderStatus,
  type ReturnStatus,
  type Presale,
  type DepositStatus,
  type Product,
  type Sale,
  type Sku,
} from './types.ts';
