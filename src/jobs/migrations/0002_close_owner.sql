-- The close holding a run: each claim writes a new owner, and every write of a close checks it, so
-- a close that lost its lease (its heartbeat went stale while it still ran) cannot mark the run
-- failed or completed, or move a step's cursor, under the close that took it over.
ALTER TABLE jobs_close_runs ADD COLUMN owner text;
