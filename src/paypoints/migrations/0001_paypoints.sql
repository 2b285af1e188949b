-- Pay Points service orders (deposit-free services gated by the credit score). Money lives in the
-- ledger (a hold on the user's wallet for a deposit) and in the merchants module's payments (what
-- the user is charged); these rows are the orders' own record. Users and merchants are referenced
-- by id only.
--
-- created → accepting (deposit hold being placed) → active → completing → completed | unpaid
--   (unpaid: the user could not pay the fee; a debt until paid, then completed)
-- created | active → cancelled (a held deposit is released)
CREATE TABLE paypoints_service_orders (
  id uuid PRIMARY KEY,
  merchant_id uuid NOT NULL,
  merchant_reference text NOT NULL,
  description text NOT NULL,
  currency text NOT NULL,
  -- The deposit the merchant would otherwise take, fen.
  risk_amount int8 NOT NULL CHECK (risk_amount > 0),
  -- The score (350–950) that waives it.
  score_bar int NOT NULL CHECK (score_bar BETWEEN 350 AND 950),
  -- How long a held deposit may stay held before the ledger releases it.
  max_days int NOT NULL CHECK (max_days BETWEEN 1 AND 365),
  status text NOT NULL CHECK (status IN
    ('created', 'accepting', 'active', 'completing', 'completed', 'unpaid', 'cancelled')),
  user_id uuid,
  -- The checkout method the user pays the final fee with (the merchants' registry).
  method text,
  -- The decision at acceptance: waived (score cleared the bar) or held, and why.
  deposit text CHECK (deposit IN ('waived', 'held')),
  decision text,
  score int,
  score_id uuid,
  deposit_hold_id uuid,
  final_fee int8 CHECK (final_fee >= 0),
  -- Of the final fee: taken from the held deposit, charged through the method, owed (a debt).
  deposit_used int8 NOT NULL DEFAULT 0,
  charged int8 NOT NULL DEFAULT 0,
  debt int8 NOT NULL DEFAULT 0,
  debt_payment_id uuid,
  created_at timestamptz NOT NULL,
  accepted_at timestamptz,
  completed_at timestamptz,
  debt_paid_at timestamptz,
  cancelled_at timestamptz,
  updated_at timestamptz NOT NULL,
  UNIQUE (merchant_id, merchant_reference)
);
CREATE INDEX paypoints_service_orders_user ON paypoints_service_orders (user_id, id);
CREATE INDEX paypoints_service_orders_merchant ON paypoints_service_orders (merchant_id, id);
-- The score service asks for users' unpaid debts in batches.
CREATE INDEX paypoints_service_orders_unpaid ON paypoints_service_orders (user_id) WHERE status = 'unpaid';
