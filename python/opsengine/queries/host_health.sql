-- name: host_health
-- description: Per host reporting since a time: when it last reported, and its latest CPU
-- description: busy percent, memory used percent and fullest file system (percent used).
-- param: from TIMESTAMPTZ = now() - INTERVAL 15 MINUTE -- hosts that reported since
WITH recent AS (
    SELECT ts, host, name, series_id, value
    FROM metrics
    WHERE ts >= $from
      AND host IS NOT NULL
      AND name IN ('cpu_usage_percent', 'memory_used_percent', 'disk_used_percent',
                   'uptime_seconds')
),
latest AS (
    SELECT host, name, series_id, arg_max(value, ts) AS value, max(ts) AS ts
    FROM recent
    GROUP BY ALL
)
SELECT
    host,
    max(ts) AS last_seen,
    max(value) FILTER (WHERE name = 'cpu_usage_percent') AS cpu_percent,
    max(value) FILTER (WHERE name = 'memory_used_percent') AS memory_percent,
    max(value) FILTER (WHERE name = 'disk_used_percent') AS disk_percent
FROM latest
GROUP BY host
ORDER BY host;
