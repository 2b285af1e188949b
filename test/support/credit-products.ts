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

/**
 * A cash loan's terms (DESIGN §2.5): 7.2% a year, 30/360, six equal instalments, 1,000.00 to
 * 50,000.00 for scores of 350 and up. Tests name their own code and name.
 */
export const cashLoanTerms = {
  schedule_type: 'equal_instalments',
  day_count: '30/360',
  annual_rate: '7.2',
  terms: [6],
  min_amount: '100000',
  max_amount: '5000000',
  min_score: 350,
  charge_off_days: 120,
};
