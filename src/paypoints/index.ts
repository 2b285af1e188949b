/** Pay Points: deposit-free service orders gated by the credit score (DESIGN §2.3). */
export {
  createPayPoints,
  paypointsMigrations,
  ABANDONED_ACCEPTANCE_MS,
  DEPOSIT_METHOD,
  DEFAULT_MAX_DAYS,
} from './service-orders.ts';
export type {
  CreateServiceOrderCommand,
  DepositDecision,
  PayPoints,
  PayPointsOptions,
  ServiceOrder,
  ServiceOrderPayment,
  ServiceOrderStatus,
} from './types.ts';
export { serviceOrderDebts } from './debts.ts';
