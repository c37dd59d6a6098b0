-- name: metric_series
-- description: One metric per host and time bucket (UTC) over a range: the mean, the peak
-- description: and the sum over the host's series (cores, mounts, interfaces) of each
-- description: series' bucket mean. The dashboard's charts read it.
-- param: name VARCHAR -- the metric name, e.g. cpu_usage_percent
-- param: host VARCHAR = '' -- one host, or '' for every host
-- param: from TIMESTAMPTZ = now() - INTERVAL 1 HOUR -- start of the range (inclusive)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
-- param: bucket INTERVAL = INTERVAL 1 MINUTE -- width of a bucket
WITH per_series AS (
    SELECT
        time_bucket(CAST($bucket AS INTERVAL), ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
            AS bucket_start,
        host,
        series_id,
        avg(value) AS value
    FROM metrics
    WHERE name = $name
      AND ($host = '' OR host = $host)
      AND ts >= $from
      AND ts < $to
    GROUP BY ALL
)
SELECT
    bucket_start,
    coalesce(host, '') AS host,
    avg(value) AS mean,
    max(value) AS peak,
    sum(value) AS total
FROM per_series
GROUP BY ALL
ORDER BY host, bucket_start;
