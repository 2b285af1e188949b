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
