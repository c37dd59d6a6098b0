-- name: host_events
-- description: Events for one host over a range, newest first, with the log line's message.
-- param: host VARCHAR -- the host name as stored in events.host
-- param: from TIMESTAMPTZ = now() - INTERVAL 1 DAY -- start of the range (inclusive)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
-- param: limit INTEGER = 100 -- how many events to show
SELECT
    e.ts,
    e.rule,
    e.severity,
    e.category,
    e.source,
    e.fields,
    e.log_id,
    l.message
FROM events AS e
LEFT JOIN logs AS l ON l.id = e.log_id
WHERE e.host = $host
  AND e.ts >= $from
  AND e.ts < $to
ORDER BY e.ts DESC, e.rule
LIMIT $limit;
