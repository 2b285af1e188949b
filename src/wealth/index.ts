export { createWealth, wealthMigrations, type Wealth, type WealthOptions } from './wealth.ts';
export type { WealthWallets } from './wallets.ts';
export type { CreateProductCommand, Product, ProductAccounts, ProductKind } from './products.ts';
export { SHARE_UNIT } from './products.ts';
export type { Subscription, SubscribeCommand, SubscriptionStatus } from './subscriptions.ts';
export {
  FAST_REDEMPTION_DAILY_CAP,
  type Redemption,
  type RedeemCommand,
  type RedemptionKind,
} from './redemptions.ts';
export type { Holding, IncomeLine } from './holdings.ts';
export { type Holiday } from './holidays.ts';
export { MAX_YIELD_DAYS, type DailyYield } from './daily-rates.ts';
export { allocateIncome, type IncomeAllocation, type IncomeHolder } from './income-allocation.ts';
export { sevenDayYieldMilli, formatYieldMilli } from './seven-day-yield.ts';
export { parseRate, formatRate } from './rates.ts';
export { TradingCalendar, CUT_OFF_HOUR, type TradingDates } from './trading-calendar.ts';
export { fixedTermInterest } from './close-orders.ts';
