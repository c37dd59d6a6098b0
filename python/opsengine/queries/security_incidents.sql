-- name: security_incidents
-- description: Security-incident frequency: incidents of category 'security breach' per ISO
-- description: week (Monday, UTC), with how many were P1/P2 and their mean time to resolve.
-- param: from TIMESTAMPTZ = now() - INTERVAL 12 WEEK -- start of the range (inclusive, by detected_at)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
SELECT
    CAST(date_trunc('week', timezone('UTC', detected_at)) AS DATE) AS week,
    count(*) AS incidents,
    count(*) FILTER (WHERE priority IN ('P1', 'P2')) AS high_priority,
    round(count(*) / 7.0, 3) AS per_day,
    avg((epoch_us(resolved_at) - epoch_us(detected_at)) / 1e6) AS mean_seconds_to_resolve
FROM incidents
WHERE category = 'security breach'
  AND detected_at >= $from
  AND detected_at < $to
GROUP BY ALL
ORDER BY week;
