import { MilletError } from '../core/index.ts';

/**
 * Fields that are never model inputs (DESIGN §2.3): sex, marital status, age, education and
 * nationality in either data set. They are read only by the fairness audit in the report.
 */
export const PROTECTED_FIELDS: readonly string[] = [
  'SEX',
  'MARRIAGE',
  'AGE',
  'EDUCATION',
  'personal_status_and_sex',
  'age_in_years',
  'foreign_worker',
];

const protectedSet = new Set(PROTECTED_FIELDS.map((f) => f.toLowerCase()));

export function isProtectedField(name: string): boolean {
  return protectedSet.has(name.toLowerCase());
}

/** Throws CREDIT_PROTECTED_FIELD if any of `names` is a protected field. Every learner calls this. */
export function assertNoProtectedFields(names: Iterable<string>): void {
  const offending = [...names].filter(isProtectedField);
  if (offending.length > 0)
    throw new MilletError(
      'CREDIT_PROTECTED_FIELD',
      `protected fields may not be model inputs: ${offending.join(', ')}`,
      { fields: offending },
    );
}
