-- A pending operation the bank has still not decided after a day (it answers "pending", or cannot
-- be asked) is flagged once for an operator to take up with the bank; reconciliation keeps asking.
ALTER TABLE wallet_bank_operations ADD COLUMN attention_at timestamptz;
CREATE INDEX wallet_bank_operations_attention ON wallet_bank_operations (attention_at)
  WHERE status = 'pending' AND attention_at IS NOT NULL;
-- Reconciliation walks pending operations in (created_at, id) order, a page at a time.
CREATE INDEX wallet_bank_operations_pending_walk ON wallet_bank_operations (created_at, id)
  WHERE status = 'pending';
