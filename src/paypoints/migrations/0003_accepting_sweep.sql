-- Acceptances whose deposit hold was being placed when the process died: the sweep that finishes
-- them looks for the old ones every few seconds, so it reads this index, not the table.
CREATE INDEX paypoints_service_orders_accepting ON paypoints_service_orders (accepted_at)
  WHERE status = 'accepting';
