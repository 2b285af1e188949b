-- A statement is written in the close of its date, after that day has ended: one due the same day
-- (due_days 0) was overdue before the user could see it (status, penalty interest, months past due
-- for the score), unless the close's auto-repayment paid it. Such product versions are due the day
-- after their statement date, the first day the bill can be seen and paid; new ones need 1–28.
UPDATE paylater_products SET due_days = 1 WHERE due_days = 0;
ALTER TABLE paylater_products DROP CONSTRAINT paylater_products_due_days_check;
ALTER TABLE paylater_products ADD CONSTRAINT paylater_products_due_days_check CHECK (due_days BETWEEN 1 AND 28);
