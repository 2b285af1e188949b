-- The end-of-day close: one run per business date (YYYY-MM-DD, Asia/Shanghai) and one row per step
-- of it, each with the cursor and progress its step last checkpointed, so a close that stopped
-- (a crash, a failing step) resumes where it was.

CREATE TABLE jobs_close_runs (
  business_date text PRIMARY KEY CHECK (business_date ~ '^\d{4}-\d{2}-\d{2}$'),
  status text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
  started_at timestamptz NOT NULL,
  heartbeat_at timestamptz NOT NULL,
  finished_at timestamptz,
  error text
);

CREATE TABLE jobs_close_steps (
  business_date text NOT NULL REFERENCES jobs_close_runs (business_date),
  step text NOT NULL,
  position int NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
  cursor text,
  done int8 NOT NULL DEFAULT 0,
  total int8,
  started_at timestamptz,
  finished_at timestamptz,
  error text,
  PRIMARY KEY (business_date, step)
);
