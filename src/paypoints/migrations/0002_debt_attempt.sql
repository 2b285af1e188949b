-- The attempt now paying an unpaid order's debt (its payment id) and since when: an attempt claims
-- the debt before it pays, so attempts sent at once with different ids pay it once, not each.
ALTER TABLE paypoints_service_orders ADD COLUMN debt_attempt_id uuid;
ALTER TABLE paypoints_service_orders ADD COLUMN debt_attempt_at timestamptz;
