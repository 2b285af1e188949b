-- A delivery is delivered once any of its attempts succeeded. Until now the newest attempt's
-- outcome won: an older attempt's late success was fenced out (the delivery stayed pending or
-- failed), and a failed redeliver of a succeeded delivery turned it failed. Such deliveries are
-- set succeeded here, at their latest successful attempt's end when the delivery never recorded one.
UPDATE webhook_deliveries d
   SET status = 'succeeded',
       next_attempt_at = NULL,
       succeeded_at = coalesce(
         d.succeeded_at,
         (SELECT max(a.started_at + coalesce(a.duration_ms, 0) * interval '1 millisecond')
            FROM webhook_attempts a
           WHERE a.delivery_id = d.id AND a.outcome = 'succeeded')
       )
 WHERE d.status <> 'succeeded'
   AND (d.succeeded_at IS NOT NULL
        OR EXISTS (SELECT 1 FROM webhook_attempts a WHERE a.delivery_id = d.id AND a.outcome = 'succeeded'));
