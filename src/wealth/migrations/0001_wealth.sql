-- Wealth: money-market funds and fixed-term products (DESIGN §2.7). Dates are business dates
-- (YYYY-MM-DD, Asia/Shanghai) as text, like the close's. Shares are integers of 1/100 share
-- (NAV 1.00: one share unit is worth one fen). Rates are integers of 1/10,000 (see rates.ts).

CREATE TABLE wealth_products (
  id uuid PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('money_fund', 'fixed_term')),
  code text NOT NULL UNIQUE,
  name text NOT NULL,
  term_days int CHECK (term_days > 0),
  expected_yield int8,
  roll_into_product_id uuid REFERENCES wealth_products (id),
  created_at timestamptz NOT NULL,
  CHECK ((kind = 'money_fund') = (term_days IS NULL)),
  CHECK ((kind = 'money_fund') = (roll_into_product_id IS NULL))
);

-- Operator-configured holidays; weekends are never trading days.
CREATE TABLE wealth_holidays (
  holiday text PRIMARY KEY CHECK (holiday ~ '^\d{4}-\d{2}-\d{2}$'),
  name text NOT NULL,
  created_at timestamptz NOT NULL
);

-- The income per 10,000 shares each natural day (1/10,000 yuan).
CREATE TABLE wealth_daily_rates (
  product_id uuid NOT NULL REFERENCES wealth_products (id),
  business_date text NOT NULL CHECK (business_date ~ '^\d{4}-\d{2}-\d{2}$'),
  rate int8 NOT NULL,
  published_at timestamptz NOT NULL,
  PRIMARY KEY (product_id, business_date)
);

-- The transfer agent's register: each holder's confirmed shares in a money fund. `shares` can be
-- redeemed; `frozen_shares` are in normal redemptions awaiting payout and still earn.
CREATE TABLE wealth_holdings (
  id uuid PRIMARY KEY,
  product_id uuid NOT NULL REFERENCES wealth_products (id),
  user_id uuid NOT NULL,
  shares int8 NOT NULL DEFAULT 0 CHECK (shares >= 0),
  frozen_shares int8 NOT NULL DEFAULT 0 CHECK (frozen_shares >= 0),
  cumulative_income int8 NOT NULL DEFAULT 0,
  last_income_date text,
  last_income int8 NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL,
  UNIQUE (product_id, user_id)
) WITH (fillfactor = 50);
-- The close rewrites every holding every day (income reinvested). Half-empty pages let those
-- updates stay HOT (same page, no index writes), which makes them about 5× cheaper.
CREATE INDEX wealth_holdings_user ON wealth_holdings (user_id);

CREATE TABLE wealth_subscriptions (
  id uuid PRIMARY KEY,
  product_id uuid NOT NULL REFERENCES wealth_products (id),
  user_id uuid NOT NULL,
  amount int8 NOT NULL CHECK (amount > 0),
  status text NOT NULL CHECK (status IN ('pending', 'confirmed', 'matured')),
  ordered_at timestamptz NOT NULL,
  trade_date text NOT NULL,
  confirm_date text NOT NULL,
  maturity_date text,
  interest int8,
  confirmed_on text,
  UNIQUE (id, user_id)
);
CREATE INDEX wealth_subscriptions_due ON wealth_subscriptions (status, confirm_date);
CREATE INDEX wealth_subscriptions_user ON wealth_subscriptions (user_id, ordered_at);

CREATE TABLE wealth_redemptions (
  id uuid PRIMARY KEY,
  product_id uuid NOT NULL REFERENCES wealth_products (id),
  holding_id uuid NOT NULL REFERENCES wealth_holdings (id),
  user_id uuid NOT NULL,
  kind text NOT NULL CHECK (kind IN ('fast', 'normal')),
  shares int8 NOT NULL CHECK (shares > 0),
  status text NOT NULL CHECK (status IN ('pending', 'paid')),
  ordered_at timestamptz NOT NULL,
  ordered_date text NOT NULL,
  confirm_date text NOT NULL,
  paid_at timestamptz,
  paid_on text
);
CREATE INDEX wealth_redemptions_due ON wealth_redemptions (status, confirm_date);
CREATE INDEX wealth_redemptions_fast ON wealth_redemptions (product_id, ordered_date) WHERE kind = 'fast';
CREATE INDEX wealth_redemptions_user ON wealth_redemptions (user_id, ordered_at);

-- Fast (T+0) redemption used per user per natural day, charged by one conditional upsert.
CREATE TABLE wealth_fast_redemption_usage (
  user_id uuid NOT NULL,
  business_date text NOT NULL,
  amount int8 NOT NULL CHECK (amount >= 0),
  PRIMARY KEY (user_id, business_date)
);

-- One row per holder per day of income; written set-based by the close.
CREATE TABLE wealth_income (
  product_id uuid NOT NULL,
  business_date text NOT NULL,
  holding_id uuid NOT NULL,
  shares int8 NOT NULL,
  income int8 NOT NULL,
  PRIMARY KEY (product_id, business_date, holding_id)
);
CREATE INDEX wealth_income_holding ON wealth_income (holding_id, business_date);

CREATE TABLE wealth_income_days (
  product_id uuid NOT NULL REFERENCES wealth_products (id),
  business_date text NOT NULL,
  rate int8 NOT NULL,
  holders int8 NOT NULL,
  shares int8 NOT NULL,
  total int8 NOT NULL,
  computed_at timestamptz NOT NULL,
  PRIMARY KEY (product_id, business_date)
);
