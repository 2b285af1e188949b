-- A redemption whose payout the ledger refused for good (the entry id stays failed, so it can never
-- post) is `failed`: its shares went back to the holder (and a fast one's amount back to the day's
-- allowance) in the transaction that set the status, so it happens once. `failure_code` is the
-- ledger's refusal. Before, it stayed `pending` with the shares gone, and every close stopped on it.
ALTER TABLE wealth_redemptions DROP CONSTRAINT wealth_redemptions_status_check;
ALTER TABLE wealth_redemptions ADD CONSTRAINT wealth_redemptions_status_check
  CHECK (status IN ('pending', 'paid', 'failed'));
ALTER TABLE wealth_redemptions ADD COLUMN failure_code text;
ALTER TABLE wealth_redemptions ADD COLUMN failed_at timestamptz;
ALTER TABLE wealth_redemptions ADD CONSTRAINT wealth_redemptions_failure_check
  CHECK ((status = 'failed') = (failure_code IS NOT NULL));
