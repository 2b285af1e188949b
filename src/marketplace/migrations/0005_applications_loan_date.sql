-- The own loan's funnel counts the loan applications of a date range (each asks it for a quote):
-- without an index on the date that read every application ever routed. Partial to loans, which
-- is all it reads, and with the id so the join to the own offer needs no visit to the table.
CREATE INDEX marketplace_applications_loan_date ON marketplace_applications (business_date, id)
  WHERE product = 'loan';
