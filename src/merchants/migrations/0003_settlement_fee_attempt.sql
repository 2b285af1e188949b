-- The fee entry's attempt: a fee entry the payable could not cover (refunds made after the day's end
-- but before its close used the money) is tried again by later closes, each time under a new ledger id,
-- because the ledger keeps a refused id refused.
ALTER TABLE merchants_settlements ADD COLUMN fee_attempt int NOT NULL DEFAULT 1;
