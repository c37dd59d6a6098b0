-- name: template_trend
-- description: Log-template counts per bucket (UTC) over a range, with the template text:
-- description: which shapes of log line grow, shrink or appear. Top templates by lines.
-- param: from TIMESTAMPTZ = now() - INTERVAL 1 DAY -- start of the range (inclusive)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
-- param: bucket INTERVAL = INTERVAL 1 HOUR -- width of a bucket (1 minute or more)
-- param: top INTEGER = 20 -- how many templates (the most frequent in the range)
WITH counts AS (
    SELECT minute, template_id, sum(count) AS lines
    FROM log_template_counts_1m
    WHERE minute >= $from AND minute < $to
    GROUP BY ALL
),
top_templates AS (
    SELECT template_id, sum(lines) AS total
    FROM counts
    GROUP BY template_id
    ORDER BY total DESC, template_id
    LIMIT $top
)
SELECT
    time_bucket($bucket, c.minute AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS bucket_start,
    c.template_id,
    t.template,
    sum(c.lines) AS lines
FROM counts c
JOIN top_templates USING (template_id)
JOIN log_templates t ON t.id = c.template_id
GROUP BY ALL
ORDER BY bucket_start, lines DESC, c.template_id;
