/** Lending: the shared lending math (APR, schedules) and instalment cash loans. */
export {
  aprOfPeriodicFlows,
  aprOfDatedFlows,
  assertAprWithinCap,
  formatPercentE4,
  APR_CAP_PERCENT_E4,
  type Apr,
  type DatedCashFlow,
} from './apr.ts';
export {
  addMonthsClamped,
  daysBetween,
  dayNumber,
  dateOfDayNumber,
  daysInMonth,
  isLeapYear,
} from './calendar.ts';
export { yearFraction, days360, dayCounts, type DayCount } from './day-count.ts';
export { parseRatePercent, formatRatePercent, fraction, type Fraction } from './rates.ts';
export {
  buildSchedule,
  amortise,
  monthlyPeriods,
  equalInstalment,
  accruedInterest,
  payoffQuote,
  unpaidInstalment,
  payInInstalments,
  scheduleTypes,
  type ScheduleType,
  type ScheduleTerms,
  type Period,
  type Instalment,
  type InstalmentState,
  type PayoffQuote,
} from './schedule.ts';
export { prepay, prepaymentModes, type PrepaymentMode, type PrepaymentResult } from './prepayment.ts';
export {
  allocateRepayment,
  assertAllocationOrder,
  components,
  DEFAULT_ALLOCATION_ORDER,
  defaultAllocationPolicy,
  type Allocation,
  type AllocationPolicy,
  type Component,
  type Owed,
} from './allocation.ts';
export {
  daysPastDue,
  delinquencyBucket,
  delinquencyBucketSql,
  delinquencyBuckets,
  type DelinquencyBucket,
} from './delinquency.ts';
export { createLending, lendingMigrations, type Lending, type LendingOptions } from './lending.ts';
export type {
  CoDebtSource,
  LendingScoreSource,
  LendingUserDirectory,
  LendingWallets,
  LoanDrawnListener,
} from './ports.ts';
export {
  MAX_LOAN_AMOUNT,
  type MaxAprBasis,
  type Product,
  type ProductAccounts,
  type ProductTerms,
} from './products.ts';
export type { MaxAprPass, MaxAprRecomputeOptions, MaxAprRecomputeResult } from './max-apr-recompute.ts';
export {
  creditLimit,
  ownCoDebt,
  quoteLoan,
  type Application,
  type CardReconcileWalk,
  type Loan,
  type Offer,
  type Quote,
  type Repayment,
} from './loans.ts';
export type { UpcomingPayment } from './next-payment.ts';
export type { BucketLine, VintagePoint } from './book.ts';
export { provisionRatesBps } from './close.ts';
