-- Seven-day no-reason returns of delivered orders (Consumer Rights Protection Law of the PRC, 2013
-- amendment, Art. 25). A return is the order's own, at most one, so it lives on the order: asked
-- for by the buyer (requested), the goods back with the operator (received), then refunded through
-- checkout to the original method (refunded). The unit is not given back to the sale.
ALTER TABLE store_orders ADD COLUMN return_status text
  CHECK (return_status IN ('requested', 'received', 'refunded'));
ALTER TABLE store_orders ADD COLUMN return_reason text;
ALTER TABLE store_orders ADD COLUMN return_requested_at timestamptz;
ALTER TABLE store_orders ADD COLUMN return_received_at timestamptz;
ALTER TABLE store_orders ADD COLUMN return_refund_id uuid;
ALTER TABLE store_orders ADD COLUMN return_refunded_at timestamptz;
CREATE INDEX store_orders_returns ON store_orders (return_status, id) WHERE return_status IS NOT NULL;
-- The reason the first cancel (or return) gave its refund, kept so every later try of the same
-- refund asks for it with the same details: checkout's refunds are idempotent on all of them.
ALTER TABLE store_orders ADD COLUMN cancel_reason text;
-- A refund checkout failed for good (the store's balance too small) is never retried under its id:
-- the next try takes the next id (derived from the order and this count).
ALTER TABLE store_orders ADD COLUMN refund_tries int NOT NULL DEFAULT 0;
