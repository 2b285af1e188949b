-- The expiry job asks checkout about orders left `paying` (a bank-card payment pending until the
-- bank settles): found by the age of their claim without reading every order.
CREATE INDEX store_orders_paying ON store_orders (updated_at) WHERE status = 'paying';
