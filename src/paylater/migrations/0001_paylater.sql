-- Pay-later line (DESIGN §2.4). Money is int8 fen; rates are integers: per million per day (ppm),
-- basis points (bp) for fee rates, minimum payment and the penalty multiplier (15000 = 1.5×).

CREATE TABLE paylater_products (
  id uuid PRIMARY KEY,
  code text NOT NULL,
  version int NOT NULL,
  name text NOT NULL,
  mode text NOT NULL CHECK (mode IN ('statement', 'daily')),
  statement_day int NOT NULL CHECK (statement_day BETWEEN 1 AND 31),
  due_days int NOT NULL CHECK (due_days BETWEEN 0 AND 28),
  daily_rate_ppm int8 NOT NULL CHECK (daily_rate_ppm >= 0),
  revolving_rate_ppm int8 NOT NULL CHECK (revolving_rate_ppm >= 0),
  penalty_multiplier_bp int NOT NULL CHECK (penalty_multiplier_bp >= 10000),
  min_payment_bp int NOT NULL CHECK (min_payment_bp BETWEEN 1 AND 10000),
  suspend_after_days int NOT NULL CHECK (suspend_after_days >= 1),
  instalment_fees jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  UNIQUE (code, version)
);

CREATE TABLE paylater_limit_bands (
  version int NOT NULL,
  min_score int NOT NULL,
  limit_amount int8 NOT NULL CHECK (limit_amount >= 0),
  created_at timestamptz NOT NULL,
  PRIMARY KEY (version, min_score)
);

CREATE TABLE paylater_lines (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL UNIQUE,
  product_id uuid NOT NULL REFERENCES paylater_products (id),
  limit_amount int8 NOT NULL CHECK (limit_amount >= 0),
  score int NOT NULL,
  status text NOT NULL CHECK (status IN ('active', 'suspended')),
  auto_repay boolean NOT NULL DEFAULT true,
  statement_day int NOT NULL CHECK (statement_day BETWEEN 1 AND 31),
  ledger_account_id uuid NOT NULL,
  -- All principal owed (billed, unbilled and future instalments): equals the ledger receivable.
  principal_outstanding int8 NOT NULL DEFAULT 0 CHECK (principal_outstanding >= 0),
  unbilled_principal int8 NOT NULL DEFAULT 0 CHECK (unbilled_principal >= 0),
  instalment_principal int8 NOT NULL DEFAULT 0 CHECK (instalment_principal >= 0),
  -- Daily mode: interest accrued since the last statement, not yet billed.
  accrued_interest int8 NOT NULL DEFAULT 0 CHECK (accrued_interest >= 0),
  last_accrual_date date,
  opened_at timestamptz NOT NULL,
  opened_date date NOT NULL
);
CREATE INDEX paylater_lines_statement_day ON paylater_lines (statement_day, id);

CREATE TABLE paylater_plans (
  id uuid PRIMARY KEY,
  line_id uuid NOT NULL REFERENCES paylater_lines (id),
  source text NOT NULL CHECK (source IN ('checkout', 'statement')),
  source_id uuid NOT NULL UNIQUE,
  principal int8 NOT NULL CHECK (principal > 0),
  fee_total int8 NOT NULL CHECK (fee_total >= 0),
  fee_rate_bp int NOT NULL,
  terms int NOT NULL,
  fee_payer text NOT NULL CHECK (fee_payer IN ('user', 'merchant')),
  apr_percent text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX paylater_plans_line ON paylater_plans (line_id);

CREATE TABLE paylater_plan_periods (
  plan_id uuid NOT NULL REFERENCES paylater_plans (id),
  period int NOT NULL,
  line_id uuid NOT NULL,
  principal int8 NOT NULL CHECK (principal >= 0),
  fee int8 NOT NULL CHECK (fee >= 0),
  -- Principal repaid ahead of billing (early settlement, refunds); a fully settled period's fee is waived.
  settled_principal int8 NOT NULL DEFAULT 0 CHECK (settled_principal >= 0 AND settled_principal <= principal),
  statement_id uuid,
  PRIMARY KEY (plan_id, period)
);
CREATE INDEX paylater_plan_periods_unbilled ON paylater_plan_periods (line_id) WHERE statement_id IS NULL;

CREATE TABLE paylater_purchases (
  payment_id uuid PRIMARY KEY,
  line_id uuid NOT NULL REFERENCES paylater_lines (id),
  amount int8 NOT NULL CHECK (amount > 0),
  plan_id uuid,
  statement_id uuid,
  business_date date NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX paylater_purchases_unbilled ON paylater_purchases (line_id) WHERE statement_id IS NULL;

CREATE TABLE paylater_statements (
  id uuid PRIMARY KEY,
  line_id uuid NOT NULL REFERENCES paylater_lines (id),
  product_id uuid NOT NULL,
  statement_date date NOT NULL,
  due_date date NOT NULL,
  principal int8 NOT NULL CHECK (principal >= 0),
  fees int8 NOT NULL CHECK (fees >= 0),
  interest int8 NOT NULL CHECK (interest >= 0),
  penalty int8 NOT NULL DEFAULT 0 CHECK (penalty >= 0),
  converted_principal int8 NOT NULL DEFAULT 0 CHECK (converted_principal >= 0),
  paid_principal int8 NOT NULL DEFAULT 0 CHECK (paid_principal >= 0),
  paid_fees int8 NOT NULL DEFAULT 0 CHECK (paid_fees >= 0),
  paid_interest int8 NOT NULL DEFAULT 0 CHECK (paid_interest >= 0),
  paid_penalty int8 NOT NULL DEFAULT 0 CHECK (paid_penalty >= 0),
  -- Older statements' unpaid amounts when this one was issued (the bill shows them too).
  carried int8 NOT NULL CHECK (carried >= 0),
  min_payment int8 NOT NULL CHECK (min_payment >= 0),
  min_paid_on date,
  paid_on date,
  last_accrual_date date,
  UNIQUE (line_id, statement_date),
  CHECK (paid_principal + converted_principal <= principal AND paid_fees <= fees
    AND paid_interest <= interest AND paid_penalty <= penalty)
);
CREATE INDEX paylater_statements_open ON paylater_statements (line_id, statement_date) WHERE paid_on IS NULL;
CREATE INDEX paylater_statements_due ON paylater_statements (due_date) WHERE paid_on IS NULL;

-- Repayments, auto-repayments, early settlements and refunds: what was paid and where it went.
CREATE TABLE paylater_movements (
  id uuid PRIMARY KEY,
  line_id uuid NOT NULL REFERENCES paylater_lines (id),
  kind text NOT NULL CHECK (kind IN ('repayment', 'auto_repayment', 'settlement', 'refund')),
  amount int8 NOT NULL CHECK (amount > 0),
  to_wallet int8 NOT NULL DEFAULT 0 CHECK (to_wallet >= 0),
  allocation jsonb NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  failure_code text,
  business_date date NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX paylater_movements_line ON paylater_movements (line_id, business_date);

-- Interest, penalty and fee income per product and day: one aggregated ledger entry each.
CREATE TABLE paylater_charge_days (
  product_id uuid NOT NULL,
  business_date date NOT NULL,
  kind text NOT NULL CHECK (kind IN ('interest', 'penalty', 'fee', 'merchant_fee')),
  amount int8 NOT NULL CHECK (amount >= 0),
  booked_amount int8 NOT NULL DEFAULT 0,
  PRIMARY KEY (product_id, business_date, kind)
);
