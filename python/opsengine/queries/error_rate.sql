-- name: error_rate
-- description: Per source and minute (UTC): log lines, error-level lines
-- description: (error, critical, alert, emergency) and their ratio.
-- param: from TIMESTAMPTZ = now() - INTERVAL 1 HOUR -- start of the range (inclusive)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
SELECT
    time_bucket(INTERVAL 1 MINUTE, coalesce(ts, ingested_at) AT TIME ZONE 'UTC')
        AT TIME ZONE 'UTC' AS minute,
    source,
    count(*) AS lines,
    count(*) FILTER (WHERE lower(level) IN ('error', 'critical', 'alert', 'emergency'))
        AS error_lines,
    CAST(count(*) FILTER (WHERE lower(level) IN ('error', 'critical', 'alert', 'emergency'))
        AS DOUBLE) / count(*) AS error_ratio
FROM logs
WHERE coalesce(ts, ingested_at) >= $from
  AND coalesce(ts, ingested_at) < $to
GROUP BY ALL
ORDER BY minute, source;
