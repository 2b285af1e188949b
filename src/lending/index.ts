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
