-- name: log_volume
-- description: Log lines by source and level per time bucket (UTC-aligned) over a range.
-- description: A line without a header time counts at its ingestion time.
-- param: from TIMESTAMPTZ = now() - INTERVAL 1 DAY -- start of the range (inclusive)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
-- param: bucket INTERVAL = INTERVAL 1 HOUR -- width of a time bucket, e.g. 15m, 1h, 1d
SELECT
    time_bucket(CAST($bucket AS INTERVAL), coalesce(ts, ingested_at) AT TIME ZONE 'UTC')
        AT TIME ZONE 'UTC' AS bucket_start,
    source,
    coalesce(level, 'unknown') AS level,
    count(*) AS lines
FROM logs
WHERE coalesce(ts, ingested_at) >= $from
  AND coalesce(ts, ingested_at) < $to
GROUP BY ALL
ORDER BY bucket_start, source, level;
