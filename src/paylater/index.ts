/** The pay-later line (DESIGN §2.4): statement and daily modes, instalments, the close steps. */
export { createPaylater, paylaterMigrations, type Paylater, type PaylaterOptions } from './paylater.ts';
export { PAY_LATER, PAY_LATER_INSTALMENTS } from './checkout.ts';
export {
  instalmentSplit,
  instalmentFee,
  instalmentOffer,
  type FeePayer,
  type InstalmentOffer,
  type InstalmentPeriod,
} from './instalments.ts';
export { allocate, type Allocation, type AllocationItem, type Owed } from './allocation.ts';
export { limitForScore } from './products.ts';
export { lineHistories, monthsPastDue } from './features.ts';
export { statementDaysFor, halfEvenSql } from './close-steps.ts';
export { seedActiveLines, type SeedLinesOptions } from './bench-seed.ts';
export { CLASS_I_LIMIT_CAP } from './lines.ts';
export { latestScoreSource } from './score-source.ts';
export type * from './types.ts';
