-- The loan at a product's highest APR (max_apr): its amount and number of instalments. Null when
-- max_apr is a proven bound that no loan meets, and for products made before 2026-12-04, whose
-- max_apr is the higher of their smallest and largest amount's (amounts between were not searched).
ALTER TABLE lending_products ADD COLUMN max_apr_amount int8, ADD COLUMN max_apr_terms int;
