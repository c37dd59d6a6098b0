-- name: mttr
-- description: MTTR in seconds over the incidents detected in the range:
-- description: resolved_at − detected_at, from detection to resolution (the final one, after any reopening). Incidents without resolved_at are counted in 'waiting' and left out of the times.
-- param: from TIMESTAMPTZ = now() - INTERVAL 30 DAY -- start of the range (inclusive, by detected_at)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
SELECT
    count(*) AS incidents,
    count(*) FILTER (WHERE resolved_at IS NULL) AS waiting,
    avg((epoch_us(resolved_at) - epoch_us(detected_at)) / 1e6) AS mean_seconds,
    median((epoch_us(resolved_at) - epoch_us(detected_at)) / 1e6) AS median_seconds,
    max((epoch_us(resolved_at) - epoch_us(detected_at)) / 1e6) AS max_seconds
FROM incidents
WHERE detected_at >= $from
  AND detected_at < $to;
