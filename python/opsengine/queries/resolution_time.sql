-- name: resolution_time
-- description: Time to resolution in seconds (wall clock: the last solve − created_at) per period (of created_at,
-- description: UTC), queue and priority. Unsolved tickets are counted in 'unsolved' and left out of the times.
-- param: from TIMESTAMPTZ = now() - INTERVAL 30 DAY -- start of the range (inclusive, by created_at)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
-- param: period VARCHAR = 'week' -- day | week | month
SELECT
    CAST(date_trunc($period, timezone('UTC', created_at)) AS DATE) AS period,
    queue,
    priority,
    count(*) AS tickets,
    count(*) FILTER (WHERE solved_at IS NULL) AS unsolved,
    avg((epoch_us(solved_at) - epoch_us(created_at)) / 1e6) AS mean_seconds,
    median((epoch_us(solved_at) - epoch_us(created_at)) / 1e6) AS median_seconds,
    quantile_cont((epoch_us(solved_at) - epoch_us(created_at)) / 1e6, 0.9) AS p90_seconds
FROM tickets
WHERE merged_into IS NULL
  AND created_at >= $from
  AND created_at < $to
GROUP BY ALL
ORDER BY period, queue, priority;
