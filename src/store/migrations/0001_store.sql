-- Store and flash sales (DESIGN §2.8). Money in fen (int8); units are integers.

CREATE TABLE store_products (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL
);

-- A SKU's `stock` is what is on hand for ordinary sale; a flash sale takes its allotment out of it.
CREATE TABLE store_skus (
  id uuid PRIMARY KEY,
  product_id uuid NOT NULL REFERENCES store_products (id),
  code text NOT NULL UNIQUE,
  name text NOT NULL,
  price int8 NOT NULL CHECK (price > 0),
  stock int8 NOT NULL CHECK (stock >= 0),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

-- A flash sale. `units_taken` counts units in live orders (reserved, paying, paid and later): the
-- database's own count, which never passes the allotment — the final arbiter against oversell.
CREATE TABLE store_sales (
  id uuid PRIMARY KEY,
  sku_id uuid NOT NULL REFERENCES store_skus (id),
  name text NOT NULL,
  price int8 NOT NULL CHECK (price > 0),
  allotment int8 NOT NULL CHECK (allotment > 0),
  per_user_limit int NOT NULL CHECK (per_user_limit > 0),
  starts_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
  early_access_from timestamptz CHECK (early_access_from IS NULL OR early_access_from < starts_at),
  admission_window_ms int NOT NULL CHECK (admission_window_ms >= 0),
  units_taken int8 NOT NULL DEFAULT 0 CHECK (units_taken >= 0 AND units_taken <= allotment),
  -- A pre-sale: a deposit per unit (a hold on the wallet) secures the unit; the balance is due from
  -- balance_from until balance_due_by; an unpaid deposit is then forfeited or refunded.
  deposit int8 CHECK (deposit IS NULL OR (deposit > 0 AND deposit < price)),
  balance_from timestamptz,
  balance_due_by timestamptz,
  unpaid_deposit text CHECK (unpaid_deposit IN ('forfeit', 'refund')),
  created_at timestamptz NOT NULL,
  CHECK ((deposit IS NULL) = (balance_from IS NULL) AND (deposit IS NULL) = (balance_due_by IS NULL)
    AND (deposit IS NULL) = (unpaid_deposit IS NULL) AND (balance_due_by IS NULL OR balance_due_by > balance_from))
);

-- One order per user and sale (the buyer set's durable twin); one per accepted attempt.
CREATE TABLE store_orders (
  id uuid PRIMARY KEY,
  sale_id uuid NOT NULL REFERENCES store_sales (id),
  user_id uuid NOT NULL,
  attempt_id uuid NOT NULL UNIQUE,
  quantity int NOT NULL CHECK (quantity > 0),
  unit_price int8 NOT NULL,
  amount int8 NOT NULL,
  status text NOT NULL CHECK (status IN ('reserved', 'deposit_held', 'paying', 'paid', 'packed', 'shipped',
    'delivered', 'expired', 'cancelled')),
  deposit int8,
  deposit_hold_id uuid,
  deposit_status text CHECK (deposit_status IN ('held', 'applied', 'forfeited', 'refunded')),
  accepted_at timestamptz NOT NULL,
  pay_by timestamptz NOT NULL,
  payment_id uuid,
  refund_id uuid,
  paid_at timestamptz,
  packed_at timestamptz,
  shipped_at timestamptz,
  delivered_at timestamptz,
  closed_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  UNIQUE (sale_id, user_id)
);
CREATE INDEX store_orders_user ON store_orders (user_id, id);
CREATE INDEX store_orders_expiry ON store_orders (pay_by) WHERE status = 'reserved';
CREATE INDEX store_orders_sale_status ON store_orders (sale_id, status);
CREATE INDEX store_orders_deposits ON store_orders (sale_id) WHERE status = 'deposit_held';

-- Accepted attempts the database refused (the sale's units were all taken): the arbiter's word,
-- kept so reconciliation can count them. Their units stay out of the engine's stock (undersell).
CREATE TABLE store_refused_attempts (
  attempt_id uuid PRIMARY KEY,
  sale_id uuid NOT NULL REFERENCES store_sales (id),
  user_id uuid NOT NULL,
  quantity int NOT NULL,
  reason text NOT NULL,
  created_at timestamptz NOT NULL
);

-- Users registered for a sale (booking before the start), with what the attempt path needs to know
-- of them without asking identity: the account's age.
CREATE TABLE store_registrations (
  sale_id uuid NOT NULL REFERENCES store_sales (id),
  user_id uuid NOT NULL,
  account_created_at timestamptz NOT NULL,
  registered_at timestamptz NOT NULL,
  PRIMARY KEY (sale_id, user_id)
);

-- F-codes: priority purchase codes, single use, bound to a sale; only a SHA-256 of each is kept.
CREATE TABLE store_fcodes (
  code_hash text PRIMARY KEY,
  sale_id uuid NOT NULL REFERENCES store_sales (id),
  batch_id uuid NOT NULL,
  used_by uuid,
  used_at timestamptz,
  created_at timestamptz NOT NULL
);
CREATE INDEX store_fcodes_batch ON store_fcodes (batch_id);
