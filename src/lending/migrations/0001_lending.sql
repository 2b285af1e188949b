-- Lending: cash-loan products, applications, offers, loans and their schedules (DESIGN §2.5).
-- Dates are business dates (YYYY-MM-DD, Asia/Shanghai) as text, like the close's. Money is int8
-- fen; rates are exact decimals in percent (numeric, never float).

-- Products as data. A product is a code with versions; a loan keeps the version it was offered on.
CREATE TABLE lending_products (
  id uuid PRIMARY KEY,
  code text NOT NULL,
  version int NOT NULL CHECK (version >= 1),
  name text NOT NULL,
  schedule_type text NOT NULL CHECK (schedule_type IN ('equal_instalments', 'equal_principal', 'interest_first')),
  day_count text NOT NULL CHECK (day_count IN ('30/360', 'actual/365', 'actual/actual')),
  annual_rate numeric NOT NULL CHECK (annual_rate >= 0),
  rounding text NOT NULL,
  terms int[] NOT NULL,
  min_amount int8 NOT NULL CHECK (min_amount > 0),
  max_amount int8 NOT NULL CHECK (max_amount >= min_amount AND max_amount <= 20000000),
  min_score int NOT NULL,
  account_classes text[] NOT NULL,
  allocation_order text[] NOT NULL,
  past_due_first boolean NOT NULL,
  prepayment_mode text NOT NULL CHECK (prepayment_mode IN ('shorten_term', 'lower_instalment')),
  grace_days int NOT NULL CHECK (grace_days >= 0),
  penalty_rate numeric NOT NULL CHECK (penalty_rate >= 0),
  charge_off_days int NOT NULL CHECK (charge_off_days > 0),
  max_apr_e4 int8 NOT NULL,
  created_at timestamptz NOT NULL,
  UNIQUE (code, version)
);

CREATE TABLE lending_applications (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL,
  product_id uuid NOT NULL REFERENCES lending_products (id),
  amount int8 NOT NULL,
  terms int NOT NULL,
  status text NOT NULL CHECK (status IN ('approved', 'declined')),
  decline_reason text,
  score int,
  credit_limit int8,
  business_date text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX lending_applications_user ON lending_applications (user_id, created_at);

CREATE TABLE lending_offers (
  id uuid PRIMARY KEY,
  application_id uuid NOT NULL REFERENCES lending_applications (id),
  user_id uuid NOT NULL,
  product_id uuid NOT NULL REFERENCES lending_products (id),
  amount int8 NOT NULL,
  terms int NOT NULL,
  apr_e4 int8 NOT NULL,
  expires_on text NOT NULL,
  status text NOT NULL CHECK (status IN ('open', 'accepted')),
  loan_id uuid,
  created_at timestamptz NOT NULL
);
CREATE INDEX lending_offers_user ON lending_offers (user_id, created_at);

-- The loan sub-ledger. The ledger holds the money per product (receivables, income); each loan's
-- share of it lives here. cur_* denormalise the current instalment so the daily accrual is one
-- UPDATE over loans without a join.
CREATE TABLE lending_loans (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL,
  product_id uuid NOT NULL REFERENCES lending_products (id),
  product_code text NOT NULL,
  offer_id uuid UNIQUE,
  principal int8 NOT NULL CHECK (principal > 0),
  terms int NOT NULL,
  apr_e4 int8 NOT NULL,
  drawn_on text NOT NULL,
  disburse_to text NOT NULL CHECK (disburse_to IN ('wallet', 'card')),
  status text NOT NULL CHECK (status IN ('disbursing', 'active', 'repaid', 'charged_off', 'cancelled')),
  auto_debit boolean NOT NULL DEFAULT true,
  principal_outstanding int8 NOT NULL CHECK (principal_outstanding >= 0),
  interest_accrued int8 NOT NULL DEFAULT 0,
  interest_paid int8 NOT NULL DEFAULT 0 CHECK (interest_paid <= interest_accrued),
  penalty_accrued int8 NOT NULL DEFAULT 0,
  penalty_paid int8 NOT NULL DEFAULT 0 CHECK (penalty_paid <= penalty_accrued),
  cur_number int,
  cur_period_start text,
  cur_due_date text,
  cur_interest int8 NOT NULL DEFAULT 0,
  cur_opening int8 NOT NULL DEFAULT 0,
  cur_rate_n numeric NOT NULL DEFAULT 0,
  cur_rate_d numeric NOT NULL DEFAULT 1,
  cur_carried int8 NOT NULL DEFAULT 0,
  interest_before_current int8 NOT NULL DEFAULT 0,
  overdue_principal int8 NOT NULL DEFAULT 0,
  oldest_unpaid_due text,
  accrued_through text,
  due_through text,
  penalty_through text,
  dpd int NOT NULL DEFAULT 0,
  charged_off_on text,
  charged_off_amount int8 NOT NULL DEFAULT 0,
  recovered int8 NOT NULL DEFAULT 0,
  closed_on text,
  version int NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL
) WITH (fillfactor = 80);
CREATE INDEX lending_loans_user ON lending_loans (user_id, created_at);
CREATE INDEX lending_loans_due ON lending_loans (cur_due_date) WHERE status = 'active';
CREATE INDEX lending_loans_overdue ON lending_loans (oldest_unpaid_due) WHERE status = 'active' AND oldest_unpaid_due IS NOT NULL;

CREATE TABLE lending_instalments (
  loan_id uuid NOT NULL REFERENCES lending_loans (id),
  number int NOT NULL,
  period_start text NOT NULL,
  due_date text NOT NULL,
  fraction_n int8 NOT NULL,
  fraction_d int8 NOT NULL,
  opening_balance int8 NOT NULL,
  principal int8 NOT NULL CHECK (principal >= 0),
  interest int8 NOT NULL CHECK (interest >= 0),
  carried_interest int8 NOT NULL DEFAULT 0,
  fee int8 NOT NULL DEFAULT 0,
  principal_paid int8 NOT NULL DEFAULT 0 CHECK (principal_paid <= principal),
  interest_paid int8 NOT NULL DEFAULT 0 CHECK (interest_paid <= interest),
  fee_paid int8 NOT NULL DEFAULT 0 CHECK (fee_paid <= fee),
  PRIMARY KEY (loan_id, number)
);

-- Every repayment, prepayment, auto-debit and recovery: written pending (the loan locked), then the
-- ledger entry (id derived from the repayment's), then applied; a pending one is finished by the close.
CREATE TABLE lending_repayments (
  id uuid PRIMARY KEY,
  loan_id uuid NOT NULL REFERENCES lending_loans (id),
  user_id uuid NOT NULL,
  kind text NOT NULL CHECK (kind IN ('repayment', 'auto_debit', 'recovery')),
  amount int8 NOT NULL CHECK (amount > 0),
  status text NOT NULL CHECK (status IN ('pending', 'posted', 'failed')),
  plan jsonb NOT NULL,
  failure text,
  business_date text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX lending_repayments_loan ON lending_repayments (loan_id, created_at);
CREATE UNIQUE INDEX lending_repayments_one_pending ON lending_repayments (loan_id) WHERE status = 'pending';

-- Aggregated daily postings of the close (per product, date and kind), accumulated chunk by chunk
-- in the chunk's transaction, then posted to the ledger once with a derived entry id.
CREATE TABLE lending_daily_postings (
  product_code text NOT NULL,
  business_date text NOT NULL,
  kind text NOT NULL,
  amount int8 NOT NULL DEFAULT 0,
  amount2 int8 NOT NULL DEFAULT 0,
  amount3 int8 NOT NULL DEFAULT 0,
  posted boolean NOT NULL DEFAULT false,
  PRIMARY KEY (product_code, business_date, kind)
);

-- The loss provision held per product (target by delinquency bucket), adjusted in the aging step.
CREATE TABLE lending_provisions (
  product_code text PRIMARY KEY,
  amount int8 NOT NULL,
  business_date text NOT NULL
);

-- Month-end snapshots for vintages: each loan's days past due at the end of each month on book.
CREATE TABLE lending_aging_snapshots (
  loan_id uuid NOT NULL,
  month text NOT NULL,
  origination_month text NOT NULL,
  months_on_book int NOT NULL,
  dpd int NOT NULL,
  principal_outstanding int8 NOT NULL,
  PRIMARY KEY (month, loan_id)
);
