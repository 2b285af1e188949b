-- Payments and refunds whose ledger call ended undecided (the ledger unavailable, a crash after it
-- committed) stay pending until the pending sweep submits the same ledger entry again. The sweep
-- claims a row by setting `next_attempt_at` a lease ahead: a second process sweeping at once takes
-- other rows, and a row still undecided (the ledger still down) waits out the lease before its next try.
ALTER TABLE merchants_payments ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE merchants_refunds ADD COLUMN next_attempt_at timestamptz;
CREATE INDEX merchants_refunds_pending ON merchants_refunds (created_at) WHERE status = 'pending';
