-- name: metric_names
-- description: The metric names stored, with how many series and hosts each has and when
-- description: each was first seen.
SELECT
    name,
    count(*) AS series,
    count(DISTINCT host) AS hosts,
    min(first_seen) AS first_seen
FROM metric_series
GROUP BY name
ORDER BY name;
