-- The wallet's tables. Money itself lives in the ledger; these rows are the wallet's own records:
-- which ledger account is whose, what each top-up, withdrawal and transfer is doing, and how much
-- each user has paid against the limit of their account class.

CREATE TABLE wallet_accounts (
  user_id uuid PRIMARY KEY,
  ledger_account_id uuid NOT NULL UNIQUE,
  currency text NOT NULL,
  created_at timestamptz NOT NULL
);

-- Payments counted against the PBoC account-class limits: period 'life' for class I, the business
-- year ('2026') for classes II and III.
CREATE TABLE wallet_payment_usage (
  user_id uuid NOT NULL,
  period text NOT NULL,
  used int8 NOT NULL CHECK (used >= 0),
  PRIMARY KEY (user_id, period)
);

CREATE TABLE wallet_bank_operations (
  id uuid PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('top_up', 'withdrawal')),
  user_id uuid NOT NULL,
  amount int8 NOT NULL CHECK (amount > 0),
  currency text NOT NULL,
  card_token text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  bank_reference text,
  failure_code text,
  failure_message text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX wallet_bank_operations_user ON wallet_bank_operations (user_id, created_at);
CREATE INDEX wallet_bank_operations_pending ON wallet_bank_operations (created_at) WHERE status = 'pending';

CREATE TABLE wallet_transfers (
  id uuid PRIMARY KEY,
  from_user_id uuid NOT NULL,
  to_user_id uuid NOT NULL,
  amount int8 NOT NULL CHECK (amount > 0),
  currency text NOT NULL,
  memo text,
  usage_period text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  failure_code text,
  failure_message text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX wallet_transfers_from ON wallet_transfers (from_user_id, created_at);
CREATE INDEX wallet_transfers_pending ON wallet_transfers (created_at) WHERE status = 'pending';
