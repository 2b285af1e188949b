-- Settlement: each merchant's day netted of fees and paid out T+1 through the bank connector.
-- Payments and refunds remember when they succeeded and which settlement took them, so each is
-- settled exactly once, also when it succeeds after its day's close already ran.

ALTER TABLE merchants_merchants
  ADD COLUMN settlement_card_token text NOT NULL DEFAULT 'sandbox_merchant_account';

ALTER TABLE merchants_payments ADD COLUMN succeeded_at timestamptz;
ALTER TABLE merchants_payments ADD COLUMN settlement_date text;
UPDATE merchants_payments SET succeeded_at = updated_at WHERE status = 'succeeded';
CREATE INDEX merchants_payments_unsettled ON merchants_payments (merchant_id, succeeded_at)
  WHERE status = 'succeeded' AND settlement_date IS NULL;
CREATE INDEX merchants_payments_settled ON merchants_payments (merchant_id, settlement_date)
  WHERE settlement_date IS NOT NULL;

ALTER TABLE merchants_refunds ADD COLUMN succeeded_at timestamptz;
ALTER TABLE merchants_refunds ADD COLUMN settlement_date text;
UPDATE merchants_refunds SET succeeded_at = updated_at WHERE status = 'succeeded';
CREATE INDEX merchants_refunds_unsettled ON merchants_refunds (merchant_id, succeeded_at)
  WHERE status = 'succeeded' AND settlement_date IS NULL;
CREATE INDEX merchants_refunds_settled ON merchants_refunds (merchant_id, settlement_date)
  WHERE settlement_date IS NOT NULL;

-- One row per merchant and business date with activity. Amounts in fen. `fees` is the sum of each
-- payment's fee rounded half-even; what the day could not cover carries to the next settlement:
-- `fees_owed_out` (fees still to collect) and `shortfall_out` (≤ 0: payable money the day's
-- refunds used beyond its payments, to restore before paying out again).
CREATE TABLE merchants_settlements (
  id uuid PRIMARY KEY,
  merchant_id uuid NOT NULL REFERENCES merchants_merchants (id),
  business_date text NOT NULL CHECK (business_date ~ '^\d{4}-\d{2}-\d{2}$'),
  currency text NOT NULL,
  payments_count int8 NOT NULL,
  gross int8 NOT NULL,
  refunds_count int8 NOT NULL,
  refunds int8 NOT NULL,
  fees int8 NOT NULL,
  net int8 NOT NULL,
  fees_owed_in int8 NOT NULL,
  fees_collected int8 NOT NULL,
  fees_owed_out int8 NOT NULL,
  shortfall_in int8 NOT NULL CHECK (shortfall_in <= 0),
  shortfall_out int8 NOT NULL CHECK (shortfall_out <= 0),
  payout_amount int8 NOT NULL CHECK (payout_amount >= 0),
  -- false until the fee entry and the payout's first hold are in the ledger.
  booked boolean NOT NULL,
  created_at timestamptz NOT NULL,
  UNIQUE (merchant_id, business_date)
);

-- A settlement's payout, due the next business date. scheduled (the amount is held in
-- merchant_payable) → sent (the bank is crediting the merchant's account) → paid (hold posted);
-- or failed (hold voided, the money back in merchant_payable), retried with a new hold and a new
-- bank reference at the next close.
CREATE TABLE merchants_payouts (
  id uuid PRIMARY KEY,
  settlement_id uuid NOT NULL UNIQUE REFERENCES merchants_settlements (id),
  merchant_id uuid NOT NULL REFERENCES merchants_merchants (id),
  business_date text NOT NULL,
  due_date text NOT NULL,
  amount int8 NOT NULL CHECK (amount > 0),
  currency text NOT NULL,
  status text NOT NULL CHECK (status IN ('scheduled', 'sent', 'paid', 'failed')),
  attempt int NOT NULL CHECK (attempt >= 1),
  -- Our reference for the current attempt at the bank (the bank keys its idempotency on it).
  bank_reference text UNIQUE,
  card_token text,
  failure_code text,
  failure_message text,
  paid_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX merchants_payouts_due ON merchants_payouts (merchant_id, due_date)
  WHERE status IN ('scheduled', 'sent', 'failed');
