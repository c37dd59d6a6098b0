-- name: recurring_fingerprints
-- description: Problem trends: alert fingerprints that opened several incidents in the range,
-- description: most frequent first, with the problem they are linked to (if any).
-- param: from TIMESTAMPTZ = now() - INTERVAL 30 DAY -- start of the range (inclusive, by detected_at)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
-- param: min_count INTEGER = 2 -- fewest incidents to list a fingerprint
SELECT
    i.fingerprint,
    min(i.rule) AS rule,
    count(*) AS incidents,
    CAST(sum(i.alert_count) AS BIGINT) AS alerts,
    min(i.detected_at) AS first_seen,
    max(i.detected_at) AS last_seen,
    max(pi.problem_id) AS problem_id
FROM incidents AS i
-- One row per incident (the newest problem it is linked to), so an incident linked to
-- several problems is not counted, nor its alerts summed, more than once.
LEFT JOIN (
    SELECT incident_id, max(problem_id) AS problem_id
    FROM problem_incidents
    GROUP BY incident_id
) AS pi ON pi.incident_id = i.id
WHERE i.detected_at >= $from
  AND i.detected_at < $to
GROUP BY i.fingerprint
HAVING count(*) >= $min_count
ORDER BY incidents DESC, i.fingerprint;
