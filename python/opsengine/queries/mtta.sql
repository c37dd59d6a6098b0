-- name: mtta
-- description: MTTA in seconds over the incidents detected in the range:
-- description: acknowledged_at − detected_at, from detection to the first acknowledgement. Incidents without acknowledged_at are counted in 'waiting' and left out of the times.
-- param: from TIMESTAMPTZ = now() - INTERVAL 30 DAY -- start of the range (inclusive, by detected_at)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
SELECT
    count(*) AS incidents,
    count(*) FILTER (WHERE acknowledged_at IS NULL) AS waiting,
    avg((epoch_us(acknowledged_at) - epoch_us(detected_at)) / 1e6) AS mean_seconds,
    median((epoch_us(acknowledged_at) - epoch_us(detected_at)) / 1e6) AS median_seconds,
    max((epoch_us(acknowledged_at) - epoch_us(detected_at)) / 1e6) AS max_seconds
FROM incidents
WHERE detected_at >= $from
  AND detected_at < $to;
