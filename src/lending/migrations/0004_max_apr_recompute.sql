-- How a product's max_apr was found, so the job `lending.recompute-max-apr` knows which to redo:
-- 'ends' for products made before 2026-12-04 (the higher of the smallest and largest amount's APR,
-- below the true highest when an amount between rounds dearer), 'every_amount' for the search over
-- every amount (a loan named in max_apr_amount/terms, or a proven bound), 'cap' when that search
-- found a loan above the 24% ceiling (or could not prove there is none): each offer and draw of such
-- a product is refused above the cap, so the ceiling itself is the highest any of its loans can be.
-- The default is 'ends' so a row written by code that predates this column is recomputed too.
ALTER TABLE lending_products ADD COLUMN max_apr_basis text NOT NULL DEFAULT 'ends'
  CHECK (max_apr_basis IN ('ends', 'every_amount', 'cap'));
-- A product made since migration 0003 with a proven bound (no loan named) is searched again once:
-- its row cannot be told from an older product's.
UPDATE lending_products SET max_apr_basis = 'every_amount' WHERE max_apr_amount IS NOT NULL;
CREATE INDEX lending_products_max_apr_ends ON lending_products (id) WHERE max_apr_basis = 'ends';

-- The passes of the recompute: one row per pass, with its cursor (the last product id done, in id
-- order) and counts, moved in the transaction that writes each page's products, so a stopped pass
-- resumes after its last page and its progress can be read while it runs.
CREATE TABLE lending_max_apr_runs (
  pass int PRIMARY KEY CHECK (pass >= 1),
  status text NOT NULL CHECK (status IN ('running', 'completed')),
  cursor uuid,
  done int8 NOT NULL DEFAULT 0,
  total int8 NOT NULL DEFAULT 0,
  raised int8 NOT NULL DEFAULT 0,
  capped int8 NOT NULL DEFAULT 0,
  failed_ids uuid[] NOT NULL DEFAULT '{}',
  started_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  finished_at timestamptz
);
