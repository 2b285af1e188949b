-- The close's confirmation entry sums the day's subscriptions by `confirmed_on = D OR (pending and
-- due)`: without an index on confirmed_on that OR is a scan of every subscription ever made, each
-- close, growing for ever. With it the planner ORs this index with wealth_subscriptions_due.
CREATE INDEX wealth_subscriptions_confirmed_on ON wealth_subscriptions (confirmed_on);
