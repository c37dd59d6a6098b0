-- name: sla_compliance
-- description: SLA compliance per period (of created_at, UTC), queue and priority, for tickets under a policy:
-- description: first-response and resolution targets met, breached, and still running; compliance is met / (met + breached), in percent.
-- description: A running clock already past its due time counts as breached.
-- param: from TIMESTAMPTZ = now() - INTERVAL 30 DAY -- start of the range (inclusive, by created_at)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
-- param: period VARCHAR = 'week' -- day | week | month
WITH t AS (
    SELECT
        CAST(date_trunc($period, timezone('UTC', created_at)) AS DATE) AS period,
        queue,
        priority,
        first_response_due IS NOT NULL OR first_response_breached OR sla_paused AS fr_applies,
        first_response_breached
            OR (first_response_at IS NULL AND first_response_due < now()) AS fr_breached,
        first_response_at IS NOT NULL AS fr_done,
        resolution_due IS NOT NULL OR resolution_breached OR sla_paused AS res_applies,
        resolution_breached
            OR (solved_at IS NULL AND closed_at IS NULL AND resolution_due < now()) AS res_breached,
        solved_at IS NOT NULL OR closed_at IS NOT NULL AS res_done
    FROM tickets
    WHERE sla_applied IS NOT NULL
      AND merged_into IS NULL
      AND created_at >= $from
      AND created_at < $to
)
SELECT
    period,
    queue,
    priority,
    count(*) AS tickets,
    count(*) FILTER (WHERE fr_applies AND fr_done AND NOT fr_breached) AS first_response_met,
    count(*) FILTER (WHERE fr_applies AND fr_breached) AS first_response_breached,
    count(*) FILTER (WHERE fr_applies AND NOT fr_done AND NOT fr_breached) AS first_response_running,
    round(100.0 * count(*) FILTER (WHERE fr_applies AND fr_done AND NOT fr_breached)
        / nullif(count(*) FILTER (WHERE fr_applies AND (fr_done OR fr_breached)), 0), 2)
        AS first_response_compliance,
    count(*) FILTER (WHERE res_applies AND res_done AND NOT res_breached) AS resolution_met,
    count(*) FILTER (WHERE res_applies AND res_breached) AS resolution_breached,
    count(*) FILTER (WHERE res_applies AND NOT res_done AND NOT res_breached) AS resolution_running,
    round(100.0 * count(*) FILTER (WHERE res_applies AND res_done AND NOT res_breached)
        / nullif(count(*) FILTER (WHERE res_applies AND (res_done OR res_breached)), 0), 2)
        AS resolution_compliance
FROM t
GROUP BY ALL
ORDER BY period, queue, priority;
