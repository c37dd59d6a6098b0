-- name: top_rules
-- description: Events by rule over a range, most frequent first, with first and last seen.
-- param: from TIMESTAMPTZ = now() - INTERVAL 7 DAY -- start of the range (inclusive)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
-- param: limit INTEGER = 20 -- how many rules to show
SELECT
    rule,
    severity,
    category,
    count(*) AS events,
    count(DISTINCT host) AS hosts,
    min(ts) AS first_seen,
    max(ts) AS last_seen
FROM events
WHERE ts >= $from
  AND ts < $to
GROUP BY rule, severity, category
ORDER BY events DESC, rule
LIMIT $limit;
