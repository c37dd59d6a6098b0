-- name: mttd
-- description: MTTD in seconds over the incidents detected in the range:
-- description: detected_at − started_at, from the first evidence (the first sample or log line behind the first alert) to detection. Incidents without detected_at are counted in 'waiting' and left out of the times.
-- param: from TIMESTAMPTZ = now() - INTERVAL 30 DAY -- start of the range (inclusive, by detected_at)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
SELECT
    count(*) AS incidents,
    count(*) FILTER (WHERE detected_at IS NULL) AS waiting,
    avg((epoch_us(detected_at) - epoch_us(started_at)) / 1e6) AS mean_seconds,
    median((epoch_us(detected_at) - epoch_us(started_at)) / 1e6) AS median_seconds,
    max((epoch_us(detected_at) - epoch_us(started_at)) / 1e6) AS max_seconds
FROM incidents
WHERE detected_at >= $from
  AND detected_at < $to;
