-- name: reopen_rate
-- description: Reopened tickets per period (of created_at, UTC) and queue: of the tickets solved at least once,
-- description: how many were reopened from solved (percent), and the reopenings in all.
-- param: from TIMESTAMPTZ = now() - INTERVAL 30 DAY -- start of the range (inclusive, by created_at)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
-- param: period VARCHAR = 'month' -- day | week | month
SELECT
    CAST(date_trunc($period, timezone('UTC', created_at)) AS DATE) AS period,
    queue,
    count(*) AS solved_tickets,
    count(*) FILTER (WHERE reopened > 0) AS reopened_tickets,
    sum(reopened) AS reopenings,
    round(100.0 * count(*) FILTER (WHERE reopened > 0) / count(*), 2) AS reopen_percent
FROM tickets
WHERE merged_into IS NULL
  AND (solved_at IS NOT NULL OR reopened > 0 OR status = 'closed')
  AND created_at >= $from
  AND created_at < $to
GROUP BY ALL
ORDER BY period, queue;
