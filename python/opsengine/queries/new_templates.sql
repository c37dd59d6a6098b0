-- name: new_templates
-- description: Log templates first seen in a range (never-seen shapes of log line), with
-- description: their first and last sighting, line count and an example message.
-- param: from TIMESTAMPTZ = now() - INTERVAL 1 DAY -- start of the range (inclusive)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
SELECT id AS template_id, template, first_seen, last_seen, count AS lines, example
FROM log_templates
WHERE first_seen >= $from AND first_seen < $to
ORDER BY first_seen, id;
