-- One row per user who has applied, locked by each application and each draw of that user, so they
-- are judged one at a time: the co-debt count and the credit limit hold also for requests sent at
-- once (before, two offers at the limit drawn one after the other both paid out).
CREATE TABLE lending_borrowers (
  user_id uuid PRIMARY KEY
);
