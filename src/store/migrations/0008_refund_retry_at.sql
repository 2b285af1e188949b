-- A cancel left closing, or a return left received, because its refund failed (the store's balance
-- short, checkout away) is finished by the refunds job. It waits this long before the next try, so
-- a store still short does not get a failed refund recorded every round (the wait doubles with
-- refund_tries, up to an hour). NULL: no try has failed yet.
ALTER TABLE store_orders ADD COLUMN refund_retry_at timestamptz;
CREATE INDEX store_orders_refunds_owed ON store_orders (id)
  WHERE (closing_at IS NOT NULL AND status IN ('paid', 'packed')) OR return_status = 'received';
