-- A negative day can take more than a holder's redeemable shares when the rest are frozen in normal
-- redemptions (they still earn, so they also lose). The shortfall comes out of the frozen shares and
-- is recorded on the redemption: it pays shares − income_loss. `shares` stays what was ordered, so a
-- retry of the same order still matches.
ALTER TABLE wealth_redemptions ADD COLUMN income_loss int8 NOT NULL DEFAULT 0;
ALTER TABLE wealth_redemptions ADD CONSTRAINT wealth_redemptions_income_loss_check
  CHECK (income_loss >= 0 AND income_loss <= shares);
CREATE INDEX wealth_redemptions_pending_holding ON wealth_redemptions (holding_id) WHERE status = 'pending';
