-- name: config_changes
-- description: Configuration changes (the config audit trail) over a range, newest first: the
-- description: item, its environment and host, the versions, who where known ('file system'
-- description: when a snapshot found it), whether the new version is approved, the changed
-- description: keys (JSON) and the unified diff. Secret values appear only as digests.
-- param: from TIMESTAMPTZ = now() - INTERVAL 7 DAY -- start of the range (inclusive)
-- param: to TIMESTAMPTZ = now() -- end of the range (exclusive)
-- param: env VARCHAR = NULL -- only this environment (every one when not given)
SELECT
    ts,
    item,
    env,
    host,
    from_version,
    to_version,
    actor,
    approved,
    key_changes,
    diff
FROM config_changes
WHERE kind = 'changed'
  AND ts >= $from
  AND ts < $to
  AND ($env IS NULL OR env = $env)
ORDER BY ts DESC, id DESC;
