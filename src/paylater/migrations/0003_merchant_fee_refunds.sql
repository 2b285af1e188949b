-- Merchant-paid (interest-free) instalments: a refund of the purchase returns the merchant the fee
-- for the refunded part. The plan keeps how much of its principal merchants refunded and how much of
-- the fee went back, so retries and concurrent refunds (serialised on the plan row) return it once
-- and never more than was charged. The fee returned is booked in the close like the fee charged.
ALTER TABLE paylater_plans ADD COLUMN merchant_refunded int8 NOT NULL DEFAULT 0
  CHECK (merchant_refunded >= 0 AND merchant_refunded <= principal);
ALTER TABLE paylater_plans ADD COLUMN merchant_fee_refunded int8 NOT NULL DEFAULT 0
  CHECK (merchant_fee_refunded >= 0);
ALTER TABLE paylater_charge_days DROP CONSTRAINT paylater_charge_days_kind_check;
ALTER TABLE paylater_charge_days ADD CONSTRAINT paylater_charge_days_kind_check
  CHECK (kind IN ('interest', 'penalty', 'fee', 'merchant_fee', 'merchant_fee_refund'));
