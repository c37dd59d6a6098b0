-- name: uptime
-- description: Per probed service over a range: checks run and passed, uptime percent
-- description: (passed / run; checks run on a fixed interval), latency of passing checks
-- description: (average, 95th percentile), and the latest result.
-- param: from TIMESTAMPTZ = now() - INTERVAL 7 DAY -- start of the range (inclusive)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
SELECT
    service,
    arg_max(kind, ts) AS kind,
    arg_max(target, ts) AS target,
    count(*) AS checks,
    count(*) FILTER (WHERE ok) AS passed,
    round(100.0 * count(*) FILTER (WHERE ok) / count(*), 3) AS uptime_percent,
    round(avg(latency_ms) FILTER (WHERE ok), 1) AS avg_latency_ms,
    round(quantile_cont(latency_ms, 0.95) FILTER (WHERE ok), 1) AS p95_latency_ms,
    max(ts) AS last_check,
    arg_max(ok, ts) AS last_ok,
    arg_max(error, ts) AS last_error
FROM probe_results
WHERE ts >= $from
  AND ts < $to
GROUP BY service
ORDER BY uptime_percent, service;
