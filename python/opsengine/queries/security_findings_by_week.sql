-- name: security_findings_by_week
-- description: Security findings opened (by first_seen) and closed (mitigated or marked false
-- description: positive, by closed_at) per ISO week (Monday, UTC), by kind and severity.
-- param: from TIMESTAMPTZ = now() - INTERVAL 12 WEEK -- start of the range (inclusive)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
WITH moves AS (
    SELECT kind, severity, first_seen AS ts, 1 AS opened, 0 AS closed
    FROM security_findings
    WHERE first_seen >= $from AND first_seen < $to
    UNION ALL
    SELECT kind, severity, closed_at AS ts, 0 AS opened, 1 AS closed
    FROM security_findings
    WHERE closed_at IS NOT NULL AND closed_at >= $from AND closed_at < $to
)
SELECT
    CAST(date_trunc('week', timezone('UTC', ts)) AS DATE) AS week,
    kind,
    severity,
    sum(opened) AS opened,
    sum(closed) AS closed
FROM moves
GROUP BY ALL
ORDER BY week, kind, severity;
