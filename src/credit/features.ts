import crypto from 'node:crypto';
import { canonicalJson } from '../core/index.ts';
import type { ApplicantFeatures } from './score.ts';

/**
 * Score-service features: the platform's own data mapped onto the columns the two models were
 * trained on. Everything here is deterministic: the same data gives the same features, the same
 * features hash and so the same score.
 *
 * Units: money arrives in fen (bigint). The German data is in 1994 Deutsche Mark and the Taiwan
 * data in 2005 New Taiwan dollars; amounts are converted at the exchange rate of the data's year
 * (not adjusted for prices since), which keeps the models' splits meaningful:
 * 1 DM ≈ 5.32 CNY (1994: 1.62 DM and 8.62 CNY per USD), 1 CNY ≈ 3.9 NT$ (2005: 32 NT$ and
 * 8.2 CNY per USD).
 */
export const FEN_PER_DM = 532;
export const NTD_PER_CNY = 3.9;

// ---------------------------------------------------------------------------------------------
// Behaviour data: what the pay-later line will report.

/** One monthly statement of a revolving line, as the pay-later module will produce it. */
export interface LineStatement {
  /** Months past due at the statement: −2 no use, −1 paid in full, 0 revolving/minimum paid, k ≥ 1 late. */
  monthsPastDue: number;
  /**
   * Whether the statement's due date had passed on the scoring date. Before it, nothing is known
   * of how the bill will be repaid, so the statement is left out of the repayment statuses.
   */
  due: boolean;
  /** Statement balance, fen. */
  statementBalance: bigint;
  /**
   * Amount repaid in the month that ends at this statement (after the previous one), fen: as in the
   * Taiwan data, it pays the previous statement's bill, not this one's.
   */
  amountRepaid: bigint;
}

export interface LineHistory {
  /** The line's credit limit, fen. */
  creditLimit: bigint;
  /**
   * Newest first: the newest six give the bills and repayments, the newest six that are due the
   * repayment statuses (fewer: the missing months count as "no use"), so a source sends up to seven.
   */
  statements: readonly LineStatement[];
}

/**
 * Platform data owned by other modules, read through their public APIs in batches (the monthly
 * refresh asks for a thousand users at a time). Users absent from a returned map have none.
 */
export interface FeatureSource {
  /** Pay-later line history as of `asOf`; users without a line (or without a statement) are absent. */
  lineHistories(userIds: readonly string[], asOf: Date): Promise<ReadonlyMap<string, LineHistory>>;
  /** Money-market fund and fixed-term holdings, fen (↔ the German "savings account and bonds"). */
  fundHoldings(userIds: readonly string[]): Promise<ReadonlyMap<string, bigint>>;
  /** Loans outstanding on the platform and through partners (↔ "existing credits at this bank"). */
  existingCredits(userIds: readonly string[]): Promise<ReadonlyMap<string, number>>;
}

const empty = new Map<string, never>();

/**
 * The default source while the pay-later line, the fund and the loans do not exist: no line
 * history (so every user gets the application model), no fund holdings, no loans.
 * TODO(issue: pay-later line / lending): replace with sources backed by the lending and wealth
 * modules' public APIs once they exist; the composition root wires it.
 */
export const noLineHistoryFeatureSource: FeatureSource = {
  lineHistories: async () => empty,
  fundHoldings: async () => empty,
  existingCredits: async () => empty,
};

/**
 * LIMIT_BAL, PAY_0/PAY_2…PAY_6, BILL_AMT1…6, PAY_AMT1…6 (NT$): bills and repayments from the line's
 * latest six statements, statuses from its latest six due ones. A statement not yet due has no
 * status: read as "minimum paid" it was a month of revolving (and "paid on time" to anything that
 * counted zeros as not late), and the reasons named "the latest statement" for a bill nobody owed yet.
 * Its status is known in the month its bill is repaid, as in the Taiwan data, where September's
 * status goes with September's repayment of August's bill.
 */
export function behaviourFeatures(history: LineHistory): Record<string, number> {
  const ntd = (fen: bigint): number => Math.round((Number(fen) / 100) * NTD_PER_CNY);
  const s = history.statements;
  const due: LineStatement[] = [];
  for (let i = 0; i < s.length && due.length < 6; i++) if (s[i]!.due) due.push(s[i]!);
  const pay = (i: number) => (due[i] ? Math.max(-2, Math.min(9, Math.trunc(due[i].monthsPastDue))) : -2);
  const bill = (i: number) => (s[i] ? ntd(s[i].statementBalance) : 0);
  const paid = (i: number) => (s[i] ? ntd(s[i].amountRepaid) : 0);
  // One literal, so every user's features share one shape (hidden class) and the model's input
  // reader stays monomorphic; keys added one by one from built names made each lookup slow.
  return {
    LIMIT_BAL: ntd(history.creditLimit),
    PAY_0: pay(0),
    PAY_2: pay(1),
    PAY_3: pay(2),
    PAY_4: pay(3),
    PAY_5: pay(4),
    PAY_6: pay(5),
    BILL_AMT1: bill(0),
    BILL_AMT2: bill(1),
    BILL_AMT3: bill(2),
    BILL_AMT4: bill(3),
    BILL_AMT5: bill(4),
    BILL_AMT6: bill(5),
    PAY_AMT1: paid(0),
    PAY_AMT2: paid(1),
    PAY_AMT3: paid(2),
    PAY_AMT4: paid(3),
    PAY_AMT5: paid(4),
    PAY_AMT6: paid(5),
  };
}

// ---------------------------------------------------------------------------------------------
// Application data: asked from the user, plus what the platform knows.

export const loanPurposes = [
  'new_car',
  'used_car',
  'furniture',
  'radio_television',
  'domestic_appliances',
  'repairs',
  'education',
  'retraining',
  'business',
  'other',
] as const;
export type LoanPurpose = (typeof loanPurposes)[number];

export const employmentDurations = [
  'unemployed',
  'less_than_1_year',
  '1_to_4_years',
  '4_to_7_years',
  '7_years_or_more',
] as const;
export type EmploymentDuration = (typeof employmentDurations)[number];

export const housingKinds = ['rent', 'own', 'free'] as const;
export type Housing = (typeof housingKinds)[number];

/** What the user answers when asking for a score before any line history. */
export interface ApplicationAnswers {
  /** The amount the user means to borrow, fen. */
  amount: bigint;
  durationMonths: number;
  purpose: LoanPurpose;
  employment: EmploymentDuration;
  housing: Housing;
}

/** What the platform knows for the application model (other modules' data, via public APIs). */
export interface PlatformFacts {
  /** Wallet balance in fen; null when the user has no wallet. */
  walletBalance: bigint | null;
  /** Fund holdings, fen (0 until the fund exists). */
  fundHoldings: bigint;
  /** Loans outstanding on the platform and through partners (0 until lending exists). */
  existingCredits: number;
}

const purposeLabels: Record<LoanPurpose, string> = {
  new_car: 'car (new)',
  used_car: 'car (used)',
  furniture: 'furniture/equipment',
  radio_television: 'radio/television',
  domestic_appliances: 'domestic appliances',
  repairs: 'repairs',
  education: 'education',
  retraining: 'retraining',
  business: 'business',
  other: 'others',
};

const employmentLabels: Record<EmploymentDuration, string> = {
  unemployed: 'unemployed',
  less_than_1_year: '... < 1 year',
  '1_to_4_years': '1 <= ... < 4 years',
  '4_to_7_years': '4 <= ... < 7 years',
  '7_years_or_more': '... >= 7 years',
};

const housingLabels: Record<Housing, string> = { rent: 'rent', own: 'own', free: 'for free' };

/** fen → DM at the 1994 rate, for the German data's thresholds. */
const dm = (fen: bigint): number => Number(fen) / FEN_PER_DM;

/**
 * Wallet balance ↔ status of the checking account (the wallet is the user's current account). No
 * wallet counts as an empty one, not as the data's "no checking account": in the German data that
 * category is the safest of all, so a user would score better by having no wallet than by keeping
 * money in one — a reward for not using the platform, and one a user could game.
 */
export function checkingStatus(walletBalance: bigint | null): string {
  if (walletBalance === null) return '0 <= ... < 200 DM';
  if (walletBalance < 0n) return '... < 0 DM';
  if (dm(walletBalance) < 200) return '0 <= ... < 200 DM';
  return '... >= 200 DM / salary assignments for at least 1 year';
}

/**
 * Fund holdings ↔ savings account and bonds. In the German data "unknown/ no savings account"
 * scores better than small savings, so an application score is the better of the holdings' own
 * category and that one (`UNKNOWN_SAVINGS`, see score-rows.ts): moving money out of the fund before
 * applying must never raise a score, and a user without holdings keeps the data's answer for them.
 */
export const UNKNOWN_SAVINGS = 'unknown/ no savings account';

export function savingsStatus(holdings: bigint): string {
  if (holdings <= 0n) return UNKNOWN_SAVINGS;
  const x = dm(holdings);
  if (x < 100) return '... < 100 DM';
  if (x < 500) return '100 <= ... < 500 DM';
  if (x < 1000) return '500 <= ... < 1000 DM';
  return '... >= 1000 DM';
}

/**
 * The German data's characteristics that are neither asked nor known on the platform, set to the
 * development data's typical applicant (most common category; median of the small integer scales)
 * rather than left missing: the trees send a missing value down the "lowest" branch, which would
 * treat every user as the safest category. They weigh the same for everyone, so differences
 * between users come from the answers and the platform's data.
 */
export const TYPICAL_APPLICANT: Readonly<Record<string, string | number>> = {
  credit_history: 'existing credits paid back duly till now',
  installment_rate_in_percentage_of_disposable_income: 3,
  other_debtors_or_guarantors: 'none',
  present_residence_since: 3,
  property: 'car or other, not in attribute Savings account/bonds',
  other_installment_plans: 'none',
  job: 'skilled employee / official',
  number_of_people_being_liable_to_provide_maintenance_for: 1,
  telephone: 'none',
};

/**
 * The typical applicant's characteristics: the same for everyone, so never a reason a user is
 * told about ("no guarantor" said to someone who was never asked).
 */
export const UNASKED_FEATURES: ReadonlySet<string> = new Set(Object.keys(TYPICAL_APPLICANT));

const TOP_CHECKING = checkingStatus(1n << 62n);
const TOP_SAVINGS = savingsStatus(1n << 62n);
const unaskedAndTopChecking = new Set([...UNASKED_FEATURES, 'status_of_existing_checking_account']);
const unaskedAndTopSavings = new Set([...UNASKED_FEATURES, 'savings_account_and_bonds']);
const unaskedAndBothTop = new Set([...unaskedAndTopChecking, 'savings_account_and_bonds']);

/**
 * What an application-model score must not give as a reason: the unasked characteristics, and the
 * wallet or fund when the user is already in their best category. The model measures points lost
 * against its best category, which for these is one the platform never maps to (the data's "no
 * account"), so a user with 100,000 CNY in the wallet would be told their balance is low.
 */
export function notReasonsFor(features: ApplicantFeatures): ReadonlySet<string> {
  const topChecking = features.status_of_existing_checking_account === TOP_CHECKING;
  const topSavings = features.savings_account_and_bonds === TOP_SAVINGS;
  if (topChecking && topSavings) return unaskedAndBothTop;
  if (topChecking) return unaskedAndTopChecking;
  if (topSavings) return unaskedAndTopSavings;
  return UNASKED_FEATURES;
}

/** The application model's record. Protected fields (sex, age, nationality) are never set. */
export function applicationFeatures(answers: ApplicationAnswers, facts: PlatformFacts): ApplicantFeatures {
  return {
    ...TYPICAL_APPLICANT,
    status_of_existing_checking_account: checkingStatus(facts.walletBalance),
    duration_in_month: answers.durationMonths,
    purpose: purposeLabels[answers.purpose],
    credit_amount: Math.round(dm(answers.amount)),
    savings_account_and_bonds: savingsStatus(facts.fundHoldings),
    present_employment_since: employmentLabels[answers.employment],
    housing: housingLabels[answers.housing],
    // The German count includes the credit applied for, so it starts at 1 (and tops out at 4).
    number_of_existing_credits_at_this_bank: Math.min(4, 1 + Math.max(0, facts.existingCredits)),
  };
}

/** SHA-256 (hex) of the model and its exact inputs: equal hashes mean equal scores. */
export function featuresHash(model: string, modelVersion: string, features: ApplicantFeatures): string {
  return crypto
    .createHash('sha256')
    .update(canonicalJson({ model, model_version: modelVersion, features }))
    .digest('hex');
}

/** Answers as stored with a score (JSON: the amount as a string of fen). */
export interface StoredAnswers {
  amount: string;
  duration_months: number;
  purpose: LoanPurpose;
  employment: EmploymentDuration;
  housing: Housing;
}

export const answersToJson = (a: ApplicationAnswers): StoredAnswers => ({
  amount: a.amount.toString(),
  duration_months: a.durationMonths,
  purpose: a.purpose,
  employment: a.employment,
  housing: a.housing,
});

export const answersFromJson = (a: StoredAnswers): ApplicationAnswers => ({
  amount: BigInt(a.amount),
  durationMonths: a.duration_months,
  purpose: a.purpose,
  employment: a.employment,
  housing: a.housing,
});
