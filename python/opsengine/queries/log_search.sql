-- name: log_search
-- description: Log lines over a range, newest first, filtered by host, level and a
-- description: case-insensitive piece of text ('' leaves a filter off).
-- param: text VARCHAR = '' -- a piece of the raw line, any case
-- param: host VARCHAR = '' -- one host
-- param: level VARCHAR = '' -- one level (error, warning, …)
-- param: from TIMESTAMPTZ = now() - INTERVAL 1 HOUR -- start of the range (inclusive)
-- param: to TIMESTAMPTZ = now() + INTERVAL 1 MINUTE -- end of the range (exclusive)
-- param: limit INTEGER = 200 -- how many lines
SELECT id, coalesce(ts, ingested_at) AS ts, host, source, app, level, message, raw, template_id
FROM logs
WHERE coalesce(ts, ingested_at) >= $from
  AND coalesce(ts, ingested_at) < $to
  AND ($host = '' OR host = $host)
  AND ($level = '' OR level = $level)
  AND ($text = '' OR contains(lower(raw), lower($text)))
ORDER BY id DESC
LIMIT $limit;
