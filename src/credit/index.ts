/** Credit scoring: data, learners, model artifacts, scoring with reason codes, evaluation, report. */
export { readCsvFile, parseCsv, csvRecords, type CsvTable } from './csv.ts';
export {
  modelSpec,
  modelSpecs,
  modelNames,
  frameFromCsv,
  repoRoot,
  type ModelName,
  type ModelSpec,
} from './datasets.ts';
export { PROTECTED_FIELDS, assertNoProtectedFields, isProtectedField } from './protected.ts';
export {
  defaultArtifactPath,
  readArtifact,
  writeArtifact,
  validateArtifact,
  sha256File,
  type CreditArtifact,
} from './artifact.ts';
export { trainModel, crossValidate, trainSettings } from './train.ts';
export { scoreApplicant, type ScoreResult, type ReasonCode, type ApplicantFeatures } from './score.ts';
export { evaluateArtifact, type Evaluation } from './evaluate.ts';
export { buildCreditReport } from './report.ts';
export { defaultScaling, type Scaling } from './scaling.ts';
export {
  createCreditService,
  creditMigrations,
  type CreditService,
  type CreditServiceOptions,
  type CreditScore,
  type CreditUser,
  type CreditUserDirectory,
  type CreditWalletReader,
  type RefreshOptions,
  type RefreshProgress,
  type RefreshReport,
  type ScoreTrigger,
} from './score-service.ts';
export {
  applyUnpaidDebts,
  noDebtSource,
  unpaidDebtPenalty,
  UNPAID_DEBT_REASON,
  type CreditDebtSource,
  type UnpaidDebt,
} from './debts.ts';
export { CREDIT_CONSENT, type CreditConsent } from './consent.ts';
export {
  noLineHistoryFeatureSource,
  applicationFeatures,
  behaviourFeatures,
  featuresHash,
  checkingStatus,
  savingsStatus,
  loanPurposes,
  employmentDurations,
  housingKinds,
  TYPICAL_APPLICANT,
  FEN_PER_DM,
  NTD_PER_CNY,
  type ApplicationAnswers,
  type FeatureSource,
  type LineHistory,
  type LineStatement,
  type PlatformFacts,
  type LoanPurpose,
  type EmploymentDuration,
  type Housing,
} from './features.ts';
export {
  scoreDistribution,
  populationStability,
  SCORE_BANDS,
  type ScoreDistribution,
} from './score-distribution.ts';
