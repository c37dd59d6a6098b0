-- name: csat
-- description: Customer satisfaction per period (of the answer, UTC) and queue: surveys sent and answered,
-- description: the share of 4–5 ratings (CSAT, percent of answers) and the average rating (1–5).
-- param: from TIMESTAMPTZ = now() - INTERVAL 30 DAY -- start of the range (inclusive, by the survey's request)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
-- param: period VARCHAR = 'month' -- day | week | month
SELECT
    CAST(date_trunc($period, timezone('UTC', requested_at)) AS DATE) AS period,
    queue,
    count(*) AS surveys,
    count(rating) AS answered,
    round(100.0 * count(*) FILTER (WHERE rating >= 4) / nullif(count(rating), 0), 2)
        AS satisfied_percent,
    round(avg(rating), 2) AS average_rating
FROM csat_surveys
WHERE requested_at >= $from
  AND requested_at < $to
GROUP BY ALL
ORDER BY period, queue;
