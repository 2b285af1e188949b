-- The merchants module's tables. Money lives in the ledger (each merchant's `merchant_payable`
-- account); these rows are the module's own records: merchants and their API keys, payment orders,
-- payments with the fee rate of their time, refunds, and the payment devices behind payment codes.

CREATE TABLE merchants_merchants (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  status text NOT NULL CHECK (status IN ('active', 'suspended')),
  fee_bps int NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
  ledger_account_id uuid NOT NULL UNIQUE,
  currency text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

-- Merchant API keys: SHA-256 of the key, never the key.
CREATE TABLE merchants_api_keys (
  id uuid PRIMARY KEY,
  merchant_id uuid NOT NULL REFERENCES merchants_merchants (id),
  name text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  key_prefix text NOT NULL,
  key_last4 text NOT NULL,
  scopes jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  created_by text,
  revoked_at timestamptz
);
CREATE INDEX merchants_api_keys_merchant ON merchants_api_keys (merchant_id, id);

-- open → pending (a payment in flight) → paid; a failed payment returns the order to open.
CREATE TABLE merchants_payment_orders (
  id uuid PRIMARY KEY,
  merchant_id uuid NOT NULL REFERENCES merchants_merchants (id),
  merchant_reference text NOT NULL,
  amount int8 NOT NULL CHECK (amount > 0),
  currency text NOT NULL,
  description text NOT NULL,
  notify_url text,
  status text NOT NULL CHECK (status IN ('open', 'pending', 'paid', 'cancelled')),
  payment_id uuid,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  UNIQUE (merchant_id, merchant_reference)
);

-- One row per payment. `refunded` only grows by a conditional update that keeps it ≤ amount.
CREATE TABLE merchants_payments (
  id uuid PRIMARY KEY,
  merchant_id uuid NOT NULL REFERENCES merchants_merchants (id),
  user_id uuid NOT NULL,
  order_id uuid REFERENCES merchants_payment_orders (id),
  source text NOT NULL CHECK (source IN ('order', 'code')),
  method text NOT NULL,
  method_details jsonb NOT NULL,
  amount int8 NOT NULL CHECK (amount > 0),
  refunded int8 NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
  currency text NOT NULL,
  fee_bps int NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
  description text,
  usage_period text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  method_reference text,
  failure_code text,
  failure_message text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX merchants_payments_merchant ON merchants_payments (merchant_id, id);
CREATE INDEX merchants_payments_user ON merchants_payments (user_id, id);
CREATE INDEX merchants_payments_pending ON merchants_payments (created_at) WHERE status = 'pending';
-- An order is paid at most once, even when two users pay it together.
CREATE UNIQUE INDEX merchants_payments_one_per_order ON merchants_payments (order_id)
  WHERE order_id IS NOT NULL AND status IN ('pending', 'succeeded');

CREATE TABLE merchants_refunds (
  id uuid PRIMARY KEY,
  payment_id uuid NOT NULL REFERENCES merchants_payments (id),
  merchant_id uuid NOT NULL,
  amount int8 NOT NULL CHECK (amount > 0),
  currency text NOT NULL,
  reason text,
  status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  failure_code text,
  failure_message text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX merchants_refunds_payment ON merchants_refunds (payment_id, id);

-- A user's device that shows payment codes. The secret is AES-256-GCM ciphertext; device_index is
-- the short number inside each code that names the device.
CREATE TABLE merchants_payment_devices (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL,
  device_index int8 NOT NULL UNIQUE,
  name text NOT NULL,
  secret_ciphertext text NOT NULL,
  last_used_step int8,
  created_at timestamptz NOT NULL
);
CREATE INDEX merchants_payment_devices_user ON merchants_payment_devices (user_id);

-- A payment code used once is spent for good: one row per (device, 30-second step).
CREATE TABLE merchants_payment_code_uses (
  device_id uuid NOT NULL REFERENCES merchants_payment_devices (id),
  time_step int8 NOT NULL,
  payment_id uuid NOT NULL,
  used_at timestamptz NOT NULL,
  PRIMARY KEY (device_id, time_step)
);
