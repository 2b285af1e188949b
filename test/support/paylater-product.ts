/**
 * A Huabei-style statement product's terms (DESIGN §2.4): statement on the 1st, due 9 days later,
 * no interest before the due date, 0.05 % a day on a revolved balance, penalty ×1.5, minimum
 * payment 10 %, 3/6/12 instalments. Tests name their own code and name.
 */
export const statementProductTerms = {
  mode: 'statement',
  statement_day: 1,
  due_days: 9,
  daily_rate_ppm: '0',
  revolving_rate_ppm: '500',
  penalty_multiplier_bp: 15_000,
  min_payment_bp: 1_000,
  suspend_after_days: 30,
  instalment_fees_bp: { '3': 230, '6': 450, '12': 750 },
};
