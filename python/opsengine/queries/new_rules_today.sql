-- name: new_rules_today
-- description: Rules that fired on a UTC day (default today) but not in the 7 days before,
-- description: with that day's event count.
-- param: day DATE = CAST(now() AT TIME ZONE 'UTC' AS DATE) -- the UTC day to look at
WITH bounds AS (
    SELECT
        CAST(CAST($day AS DATE) AS TIMESTAMP) AT TIME ZONE 'UTC' AS day_start,
        CAST(CAST($day AS DATE) + 1 AS TIMESTAMP) AT TIME ZONE 'UTC' AS day_end,
        CAST(CAST($day AS DATE) - 7 AS TIMESTAMP) AT TIME ZONE 'UTC' AS week_before
),
on_the_day AS (
    SELECT e.rule, e.severity, e.category, count(*) AS events, min(e.ts) AS first_seen
    FROM events AS e, bounds AS b
    WHERE e.ts >= b.day_start AND e.ts < b.day_end
    GROUP BY e.rule, e.severity, e.category
),
seen_before AS (
    SELECT DISTINCT e.rule
    FROM events AS e, bounds AS b
    WHERE e.ts >= b.week_before AND e.ts < b.day_start
)
SELECT rule, severity, category, events, first_seen
FROM on_the_day
WHERE rule NOT IN (SELECT rule FROM seen_before)
ORDER BY events DESC, rule;
