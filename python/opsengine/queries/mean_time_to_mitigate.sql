-- name: mean_time_to_mitigate
-- description: Time from first sighting to mitigation, in seconds, of the security findings
-- description: mitigated in the range (by closed_at), per kind; 'open' counts those still waiting.
-- param: from TIMESTAMPTZ = now() - INTERVAL 30 DAY -- start of the range (inclusive, by closed_at)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
SELECT
    kind,
    count(*) FILTER (WHERE state = 'mitigated' AND closed_at >= $from AND closed_at < $to) AS mitigated,
    count(*) FILTER (WHERE state IN ('open', 'acknowledged')) AS open,
    avg((epoch_us(closed_at) - epoch_us(first_seen)) / 1e6)
        FILTER (WHERE state = 'mitigated' AND closed_at >= $from AND closed_at < $to) AS mean_seconds,
    median((epoch_us(closed_at) - epoch_us(first_seen)) / 1e6)
        FILTER (WHERE state = 'mitigated' AND closed_at >= $from AND closed_at < $to) AS median_seconds
FROM security_findings
GROUP BY kind
ORDER BY kind;
