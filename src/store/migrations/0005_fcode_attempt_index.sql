-- F-codes spent on attempts the admission lobby refused are given back by attempt id.
CREATE INDEX store_fcodes_attempt ON store_fcodes (used_attempt_id) WHERE used_attempt_id IS NOT NULL;
