-- name: backlog_by_age
-- description: Unfinished tickets (new, open, pending) per queue, priority and age bucket at a time:
-- description: under 1 day, 1–3 days, 3–7 days, 7–30 days, over 30 days; oldest_created is the oldest ticket of the bucket.
-- param: at TIMESTAMPTZ = now() -- the moment the backlog is measured at
WITH t AS (
    SELECT
        queue,
        priority,
        created_at,
        (epoch_us($at) - epoch_us(created_at)) / 86400e6 AS age_days
    FROM tickets
    WHERE status IN ('new', 'open', 'pending')
      AND created_at <= $at
)
SELECT
    queue,
    priority,
    CASE
        WHEN age_days < 1 THEN '0-1d'
        WHEN age_days < 3 THEN '1-3d'
        WHEN age_days < 7 THEN '3-7d'
        WHEN age_days < 30 THEN '7-30d'
        ELSE '30d+'
    END AS age,
    count(*) AS tickets,
    min(created_at) AS oldest_created
FROM t
GROUP BY ALL
ORDER BY queue, priority, min(age_days);
