-- Since when a cancel, or the pre-sale deadline, has been closing the order: it is claimed before
-- its money moves (a refund, or the deposit hold forfeited or released), so fulfilment and the
-- balance payment leave it alone meanwhile instead of racing the refund or the hold.
ALTER TABLE store_orders ADD COLUMN closing_at timestamptz;
