-- name: incidents_by_week
-- description: Incidents per ISO week (Monday, UTC) by category, priority and service, by detected_at.
-- param: from TIMESTAMPTZ = now() - INTERVAL 12 WEEK -- start of the range (inclusive)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
SELECT
    CAST(date_trunc('week', timezone('UTC', detected_at)) AS DATE) AS week,
    category,
    priority,
    coalesce(service, '') AS service,
    count(*) AS incidents
FROM incidents
WHERE detected_at >= $from
  AND detected_at < $to
GROUP BY ALL
ORDER BY week, category, priority, service;
