-- Before refund_tries was followed (migration 0008), a cancel or a return whose refund checkout had
-- failed for good was closed on that failed refund as if refunded: the order cancelled (or its
-- return refunded), the buyer never paid back. The refunds job asks checkout about every closed
-- order's refund until it has succeeded (recorded here), and pays a failed one back under the next
-- refund id. NULL on a closed order with a refund: not yet known to have succeeded.
ALTER TABLE store_orders ADD COLUMN refund_confirmed_at timestamptz;
CREATE INDEX store_orders_refunds_unconfirmed ON store_orders (id)
  WHERE refund_confirmed_at IS NULL
    AND ((status = 'cancelled' AND refund_id IS NOT NULL)
         OR (return_status = 'refunded' AND return_refund_id IS NOT NULL));
