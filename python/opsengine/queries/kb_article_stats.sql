-- name: kb_article_stats
-- description: Knowledge-base articles ranked by deflected tickets (tickets whose requester found the suggested
-- description: article helpful), then helpful feedback, then views; feedback counted in the range, views in all.
-- param: from TIMESTAMPTZ = now() - INTERVAL 30 DAY -- start of the range (inclusive, by feedback time)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
-- param: limit INTEGER = 20 -- how many articles
WITH f AS (
    SELECT
        article_id,
        count(*) FILTER (WHERE helpful) AS helpful,
        count(*) FILTER (WHERE NOT helpful) AS not_helpful,
        count(DISTINCT ticket_id) FILTER (WHERE helpful) AS deflected_tickets
    FROM kb_feedback
    WHERE ts >= $from
      AND ts < $to
    GROUP BY article_id
)
SELECT
    a.id,
    a.title,
    a.state,
    a.views,
    coalesce(f.helpful, 0) AS helpful,
    coalesce(f.not_helpful, 0) AS not_helpful,
    round(100.0 * f.helpful / nullif(f.helpful + f.not_helpful, 0), 1) AS helpful_percent,
    coalesce(f.deflected_tickets, 0) AS deflected_tickets
FROM kb_articles a
LEFT JOIN f ON f.article_id = a.id
ORDER BY deflected_tickets DESC, helpful DESC, a.views DESC, a.id
LIMIT $limit;
