-- A merchant's payments are listed newest first by when they were made, not by id: an id derived
-- from an Idempotency-Key carries no time. This index serves that order and its keyset cursor
-- (created_at, id); it replaces (merchant_id, id), which only that listing read.
DROP INDEX merchants_payments_merchant;
CREATE INDEX merchants_payments_merchant_created ON merchants_payments (merchant_id, created_at DESC, id DESC);
