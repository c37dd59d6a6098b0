"""The configuration service: ``engine.config``. Tracked items, snapshots, versions, diffs,
baselines, drift and the config audit trail.

A snapshot reads each item's files (see :mod:`files`), stores new content once by hash,
and when the item's files differ from its last version writes the next version and a
``config_changes`` row (the audit trail: when, what as a diff, who where known, which
environment) in one transaction. Drift is then judged for every item and published to
``engine.alerts`` as alerts of category ``config`` — ``config_drift`` (away from the
approved baseline, or different from another environment in a key not declared in
``vary``) and ``config_unapproved_change`` (a change to an item nobody approved yet) — so
they open incidents and send notifications like any other alert, and resolve themselves
when the drift ends or a version is approved.
"""

from __future__ import annotations

import difflib
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from opsengine.alerts import AlertChange, changes_table
from opsengine.config_mgmt.files import FileState, read_item, version_hash
from opsengine.config_mgmt.models import (
    DRIFT_RULE,
    FILE_SYSTEM,
    UNAPPROVED_RULE,
    ConfigItem,
    ConfigMgmtError,
    ItemNotFound,
)
from opsengine.config_mgmt.parsing import Redactor, flatten, key_changes
from opsengine.store.rows import fetch_dicts, query_dicts

log = logging.getLogger(__name__)

MAX_DIFF_CHARS = 256 * 1024  # a stored diff is clipped here; the versions keep everything
_ALERT_RULES = (DRIFT_RULE, UNAPPROVED_RULE)
_PHRASES = {
    "baseline": lambda f: f"drifted from its approved baseline {f['against']}",
    "cross_env": lambda f: f"differs from {f['against']}",
    "unapproved": lambda f: "changed without an approved baseline",
}


def _now() -> datetime:
    return datetime.now(UTC)


class ConfigService:
    """Configuration items in the store. Usable without HTTP; the CLI and API call it."""

    def __init__(self, store: Any, alerts: Any, settings: Any) -> None:
        self.store = store
        self.alerts = alerts  # opsengine.alerts.AlertLog
        self.settings = settings  # opsengine.config.ConfigSettings
        self._lock = threading.RLock()  # one snapshot/approval at a time
        #: Called with (action, detail, actor) for approvals: the audit log (access/audit.py).
        self.audit_sink: Callable[[str, str, str], None] | None = None
        self._redactor: Redactor | None = None

    def redactor(self) -> Redactor:
        """Secrets in stored content are replaced by salted digests; the salt is per store."""
        if self._redactor is None:
            import secrets

            salt = self.store.get_state("config:redaction_salt")
            if salt is None:
                salt = secrets.token_hex(16)
                self.store.set_state("config:redaction_salt", salt)
            self._redactor = Redactor(bytes.fromhex(salt))
        return self._redactor

    # -- items -----------------------------------------------------------------
    def declare(self, specs: list[dict[str, Any]]) -> list[ConfigItem]:
        """Create or update the items of ``[[config.item]]`` (origin ``config``)."""
        items = [
            ConfigItem.from_spec(spec, f"[[config.item]] #{n}") for n, spec in enumerate(specs, 1)
        ]
        for item in items:
            self._save(item, actor="opsengine.toml", origin="config")
        return items

    def track(
        self,
        name: str,
        paths: list[str],
        *,
        env: str,
        vary: list[str] | None = None,
        host: str | None = None,
        severity: str = "medium",
        actor: str = "api",
        origin: str = "api",
    ) -> dict[str, Any]:
        """Track ``paths`` as item ``name`` in ``env`` (update it when it exists)."""
        item = ConfigItem(
            name=name, env=env, paths=list(paths), vary=list(vary or []), host=host,
            severity=severity,
        )  # fmt: skip
        item.validate()
        return self._save(item, actor=actor, origin=origin).as_dict()

    def _save(self, item: ConfigItem, *, actor: str, origin: str) -> ConfigItem:
        now = _now()
        with self._lock, self.store.transaction() as cur:
            row = cur.execute(
                "SELECT id FROM config_items WHERE name = ? AND env = ?", [item.name, item.env]
            ).fetchone()
            values = [item.host, json.dumps(item.paths), json.dumps(item.vary), item.severity]
            if row:
                item.id = row[0]
                cur.execute(
                    "UPDATE config_items SET host = ?, paths = ?, vary = ?, severity = ? "
                    "WHERE id = ?",
                    [*values, item.id],
                )
            else:
                item.id = self.store.next_id(cur, "config_items", 1)
                cur.execute(
                    "INSERT INTO config_items (id, name, env, host, paths, vary, severity, origin,"
                    " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [item.id, item.name, item.env, *values, origin, actor, now],
                )
                self._change(cur, item, "tracked", now, actor, to_version=None)
            item.origin, item.created_by, item.created_at = origin, actor, now
        return self.get_item(item.name, item.env)

    def items(self) -> list[dict[str, Any]]:
        """Every item with its latest version and baseline."""
        rows = query_dicts(
            self.store,
            "SELECT i.*, v.version AS latest_version, v.taken_at AS latest_at, "
            "b.version AS baseline_version, b.approved_by, b.approved_at FROM config_items i "
            "LEFT JOIN (SELECT item_id, max(version) AS version FROM config_versions "
            "GROUP BY item_id) m ON m.item_id = i.id "
            "LEFT JOIN config_versions v ON v.item_id = i.id AND v.version = m.version "
            "LEFT JOIN config_baselines b ON b.item_id = i.id ORDER BY i.name, i.env",
        )
        out = []
        for r in rows:
            d = ConfigItem.from_row(r).as_dict()
            d.update(
                latest_version=r["latest_version"], latest_at=r["latest_at"],
                baseline_version=r["baseline_version"], approved_by=r["approved_by"],
                approved_at=r["approved_at"],
            )  # fmt: skip
            out.append(d)
        return out

    def _items(self, name: str | None = None, env: str | None = None) -> list[ConfigItem]:
        where, params = [], []
        if name is not None:
            where.append("name = ?")
            params.append(name)
        if env is not None:
            where.append("env = ?")
            params.append(env)
        sql = "SELECT * FROM config_items"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [
            ConfigItem.from_row(r) for r in query_dicts(self.store, sql + " ORDER BY id", params)
        ]

    def _item(self, name: str, env: str | None) -> ConfigItem:
        found = self._items(name, env)
        if not found:
            where = f" in env {env!r}" if env else ""
            raise ItemNotFound(f"no such config item {name!r}{where}")
        if len(found) > 1:
            envs = ", ".join(i.env for i in found)
            raise ConfigMgmtError(f"env: item {name!r} exists in several envs ({envs}); name one")
        return found[0]

    def get_item(self, name: str, env: str | None = None) -> ConfigItem:
        return self._item(name, env)

    # -- snapshots ---------------------------------------------------------------
    def snapshot(
        self,
        name: str | None = None,
        env: str | None = None,
        *,
        author: str = FILE_SYSTEM,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Snapshot one item (or all); returns per item its version and whether it changed."""
        items = [self._item(name, env)] if name is not None else self._items(env=env)
        now = now or _now()
        results = []
        self.redactor()  # its salt is written outside the snapshot's transactions
        with self._lock:
            for item in items:
                states = read_item(item.paths, self.settings.max_file_bytes)
                results.append(self._record(item, states, author, now))
            self.evaluate(now)
        return results

    def _record(
        self, item: ConfigItem, states: list[FileState], author: str, now: datetime
    ) -> dict[str, Any]:
        digest = version_hash(states)
        errors = [s.error for s in states if s.error]
        with self.store.transaction() as cur:
            last = cur.execute(
                "SELECT version, hash FROM config_versions WHERE item_id = ? "
                "ORDER BY version DESC LIMIT 1",
                [item.id],
            ).fetchone()
            result = {"item": item.name, "env": item.env, "errors": errors}
            if last and last[1] == digest:
                return {**result, "version": last[0], "changed": False}
            version = (last[0] if last else 0) + 1
            for s in states:
                if s.hash is not None:
                    self._store_blob(cur, s, now)
            cur.execute(
                "INSERT INTO config_versions (item_id, version, hash, taken_at, author, files,"
                " errors) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [item.id, version, digest, now, author, len(states), len(errors)],
            )
            cur.executemany(
                "INSERT INTO config_version_files (item_id, version, path, blob_hash, size, mode,"
                " owner, mtime, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [item.id, version, s.path, s.hash, s.size, s.mode, s.owner, s.mtime, s.error]
                    for s in states
                ],
            )
            if last:
                diff = self._diff(cur, item, last[0], version)
                self._change(
                    cur, item, "changed", now, author, from_version=last[0], to_version=version,
                    keys=diff["keys"], diff=diff["unified"],
                )  # fmt: skip
            for e in errors:
                log.warning("config item %s (%s): %s", item.name, item.env, e)
        return {**result, "version": version, "changed": True}

    def _store_blob(self, cur: Any, s: FileState, now: datetime) -> None:
        if cur.execute("SELECT 1 FROM config_blobs WHERE hash = ?", [s.hash]).fetchone():
            return
        parsed = flatten(s.path, s.text) if s.text is not None else None
        redact = self.redactor()
        keys = redact.keys(parsed.keys) if parsed else None
        cur.execute(
            "INSERT INTO config_blobs (hash, size, is_binary, content, format, keys, parse_error,"
            " stored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                s.hash, s.size, s.binary, redact.text(s.text) if s.text is not None else None,
                parsed.format if parsed else None,
                json.dumps(keys) if keys is not None else None,
                parsed.error if parsed else None, now,
            ],
        )  # fmt: skip

    def _change(
        self,
        cur: Any,
        item: ConfigItem,
        kind: str,
        ts: datetime,
        actor: str,
        *,
        from_version: int | None = None,
        to_version: int | None = None,
        keys: list[dict] | None = None,
        diff: str | None = None,
    ) -> None:
        base = cur.execute(
            "SELECT version FROM config_baselines WHERE item_id = ?", [item.id]
        ).fetchone()
        approved = bool(base and to_version is not None and base[0] == to_version)
        if diff is not None and len(diff) > MAX_DIFF_CHARS:
            diff = diff[:MAX_DIFF_CHARS] + "\n… (clipped; `opsengine config diff` shows it all)\n"
        cur.execute(
            "INSERT INTO config_changes (id, ts, kind, item_id, item, env, host, from_version,"
            " to_version, actor, approved, key_changes, diff) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                self.store.next_id(cur, "config_changes", 1), ts, kind, item.id, item.name,
                item.env, item.host, from_version, to_version, actor, approved,
                json.dumps(keys) if keys is not None else None, diff,
            ],
        )  # fmt: skip

    # -- versions and diffs --------------------------------------------------------
    def versions(self, name: str, env: str | None = None) -> list[dict[str, Any]]:
        item = self._item(name, env)
        return query_dicts(
            self.store,
            "SELECT v.version, v.taken_at, v.hash, v.author, v.files, v.errors, "
            "coalesce(b.version = v.version, false) AS baseline FROM config_versions v "
            "LEFT JOIN config_baselines b ON b.item_id = v.item_id "
            "WHERE v.item_id = ? ORDER BY v.version",
            [item.id],
        )

    def files(self, name: str, env: str | None = None, version: int | None = None) -> list[dict]:
        """The files of one version (default the latest) with their metadata and errors."""
        item = self._item(name, env)
        cur = self.store.cursor()
        try:
            version = self._version(cur, item, version, "version")
            return self._files(cur, item.id, version)
        finally:
            cur.close()

    @staticmethod
    def _files(cur: Any, item_id: int, version: int) -> list[dict[str, Any]]:
        rows = fetch_dicts(
            cur,
            "SELECT f.path, f.blob_hash AS hash, f.size, f.mode, f.owner, f.mtime, f.error, "
            "b.is_binary, b.content, b.format, b.keys, b.parse_error FROM config_version_files f "
            "LEFT JOIN config_blobs b ON b.hash = f.blob_hash "
            "WHERE f.item_id = ? AND f.version = ? ORDER BY f.path",
            [item_id, version],
        )
        for r in rows:
            r["keys"] = json.loads(r["keys"]) if r["keys"] is not None else None
        return rows

    def _version(self, cur: Any, item: ConfigItem, version: int | None, what: str) -> int:
        if version is None:
            row = cur.execute(
                "SELECT max(version) FROM config_versions WHERE item_id = ?", [item.id]
            ).fetchone()
            if row[0] is None:
                raise ItemNotFound(f"config item {item.name!r} ({item.env}) has no version yet")
            return row[0]
        row = cur.execute(
            "SELECT version FROM config_versions WHERE item_id = ? AND version = ?",
            [item.id, version],
        ).fetchone()
        if row is None:
            raise ItemNotFound(f"{what}: no such version {version} of {item.name!r} ({item.env})")
        return version

    def diff(
        self,
        name: str,
        env: str | None = None,
        from_version: int | None = None,
        to_version: int | None = None,
    ) -> dict[str, Any]:
        """Unified diff and key-level changes between two versions.

        ``to`` defaults to the latest; ``from`` to the baseline, or the version before ``to``.
        """
        item = self._item(name, env)
        cur = self.store.cursor()
        try:
            to_v = self._version(cur, item, to_version, "to")
            if from_version is None:
                base = cur.execute(
                    "SELECT version FROM config_baselines WHERE item_id = ?", [item.id]
                ).fetchone()
                from_version = base[0] if base and base[0] != to_v else max(to_v - 1, 1)
            from_v = self._version(cur, item, from_version, "from")
            return {"item": item.name, "env": item.env, **self._diff(cur, item, from_v, to_v)}
        finally:
            cur.close()

    def _diff(self, cur: Any, item: ConfigItem, a: int, b: int) -> dict[str, Any]:
        old = {f["path"]: f for f in self._files(cur, item.id, a)}
        new = {f["path"]: f for f in self._files(cur, item.id, b)}
        text: list[str] = []
        keys: list[dict[str, Any]] = []
        several = len(old.keys() | new.keys()) > 1
        for path in sorted(old.keys() | new.keys()):
            fa, fb = old.get(path), new.get(path)
            text += _file_diff(path, a, b, fa, fb)
            prefix = f"{path}:" if several else ""
            for k in key_changes(_keys_of(fa), _keys_of(fb)):
                keys.append({**k, "key": prefix + k["key"], "path": path})
        return {"from": a, "to": b, "unified": "".join(text), "keys": keys}

    # -- baselines ----------------------------------------------------------------
    def approve(
        self,
        name: str,
        env: str | None = None,
        version: int | None = None,
        *,
        actor: str,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Make ``version`` (default the latest) the item's approved baseline."""
        item = self._item(name, env)
        now = now or _now()
        with self._lock:
            with self.store.transaction() as cur:
                version = self._version(cur, item, version, "version")
                prev = cur.execute(
                    "SELECT version FROM config_baselines WHERE item_id = ?", [item.id]
                ).fetchone()
                cur.execute("DELETE FROM config_baselines WHERE item_id = ?", [item.id])
                cur.execute(
                    "INSERT INTO config_baselines (item_id, version, approved_by, approved_at) "
                    "VALUES (?, ?, ?, ?)",
                    [item.id, version, actor, now],
                )
                self._change(
                    cur, item, "approved", now, actor,
                    from_version=prev[0] if prev else None, to_version=version,
                )  # fmt: skip
            if self.audit_sink is not None:
                self.audit_sink(
                    f"config approve {item.name} ({item.env}) v{version}",
                    f"baseline was v{prev[0]}" if prev else "first baseline",
                    actor,
                )
            self.evaluate(now)
        return {"item": item.name, "env": item.env, "version": version, "approved_by": actor,
                "approved_at": now}  # fmt: skip

    # -- drift --------------------------------------------------------------------
    def drift(self) -> list[dict[str, Any]]:
        """Every drift now: away from baseline, across environments, or unapproved changes."""
        cur = self.store.cursor()
        try:
            return self._drift(cur)
        finally:
            cur.close()

    def _drift(self, cur: Any) -> list[dict[str, Any]]:
        latest = fetch_dicts(
            cur,
            "SELECT i.id, v.version, v.hash, v.taken_at, b.version AS baseline, "
            "bv.hash AS baseline_hash FROM config_items i "
            "JOIN (SELECT item_id, max(version) AS version FROM config_versions GROUP BY item_id)"
            " m ON m.item_id = i.id "
            "JOIN config_versions v ON v.item_id = i.id AND v.version = m.version "
            "LEFT JOIN config_baselines b ON b.item_id = i.id "
            "LEFT JOIN config_versions bv ON bv.item_id = i.id AND bv.version = b.version",
        )
        items = {i.id: i for i in self._items()}
        state = {r["id"]: r for r in latest if r["id"] in items}
        found: list[dict[str, Any]] = []
        for item_id, r in state.items():
            item = items[item_id]
            where = {"item": item.name, "env": item.env, "host": item.host,
                     "severity": item.severity, "version": r["version"], "since": r["taken_at"]}  # fmt: skip
            if r["baseline"] is None:
                if r["version"] > 1:
                    found.append({**where, "rule": UNAPPROVED_RULE, "kind": "unapproved",
                                  "detail": f"changed to v{r['version']}; no version approved",
                                  "keys": []})  # fmt: skip
            elif r["hash"] != r["baseline_hash"]:
                d = self._diff(cur, item, r["baseline"], r["version"])
                names = ", ".join(k["key"] for k in d["keys"][:10]) or "file metadata"
                found.append({**where, "rule": DRIFT_RULE, "kind": "baseline", "keys": d["keys"],
                              "against": f"v{r['baseline']}",
                              "detail": f"v{r['version']} differs from approved v{r['baseline']}:"
                                        f" {names}"})  # fmt: skip
        by_name: dict[str, list[ConfigItem]] = {}
        for item_id in state:
            by_name.setdefault(items[item_id].name, []).append(items[item_id])
        for group in by_name.values():
            for n, a in enumerate(group):
                for b in group[n + 1 :]:
                    found += self._cross_env(cur, a, b, state)
        return found

    def _cross_env(
        self, cur: Any, a: ConfigItem, b: ConfigItem, state: dict[int, dict]
    ) -> list[dict[str, Any]]:
        ka = _item_keys(self._files(cur, a.id, state[a.id]["version"]))
        kb = _item_keys(self._files(cur, b.id, state[b.id]["version"]))
        differ = [k for k in key_changes(ka, kb) if not (a.varies(k["key"]) or b.varies(k["key"]))]
        if not differ:
            return []
        # The environment that moved last diverged; it carries the alert.
        ra, rb = state[a.id], state[b.id]
        moved, other = (a, b) if (ra["taken_at"], a.env) > (rb["taken_at"], b.env) else (b, a)
        if moved is a:
            differ = [{**k, "old": k["new"], "new": k["old"]} for k in differ]
        names = ", ".join(k["key"] for k in differ[:10])
        return [{
            "item": moved.name, "env": moved.env, "host": moved.host, "severity": moved.severity,
            "version": state[moved.id]["version"], "since": state[moved.id]["taken_at"],
            "rule": DRIFT_RULE, "kind": "cross_env", "against": other.env, "keys": differ,
            "detail": f"differs from {other.env} in keys not declared in vary: {names}",
        }]  # fmt: skip

    def evaluate(self, now: datetime | None = None) -> int:
        """Publish drift as firing ``config`` alerts and resolve those that ended.

        One alert per rule, item and environment; its description names every reason.
        Returns the alert changes published.
        """
        now = now or _now()
        with self._lock:
            want: dict[str, AlertChange] = {}
            for f in self.drift():
                labels = {"item": f["item"], "env": f["env"]}
                if f["host"]:
                    labels["host"] = f["host"]
                change = AlertChange(
                    ts=now, rule=f["rule"], state="firing", active_since=f["since"],
                    fired_at=now, labels=labels, severity=f["severity"], category="config",
                    source="config",
                    annotations={"summary": f"config {f['item']} ({f['env']}) {_PHRASES[f['kind']](f)}",
                                 "description": f["detail"]},
                )  # fmt: skip
                held = want.get(change.fingerprint)
                if held is not None:
                    held.annotations["description"] += "; " + f["detail"]
                    held.annotations["summary"] += f"; {_PHRASES[f['kind']](f)}"
                    held.active_since = min(held.active_since, change.active_since)
                else:
                    want[change.fingerprint] = change
            firing = self._firing()
            out = []
            for fp, c in want.items():
                held = firing.get(fp)
                if held is None:
                    if self._ended(fp, c.active_since):
                        # That instance was resolved (approved, then approved away again):
                        # this is a new one, from now.
                        c.active_since = now
                    out.append(c)
                elif held["annotations"] != c.annotations:  # other reasons now: say so
                    c.active_since, c.fired_at = held["active_since"], held["fired_at"]
                    out.append(c)
            for fp, alert in firing.items():
                if fp not in want:
                    out.append(AlertChange(
                        ts=now, rule=alert["rule"], state="resolved",
                        active_since=alert["active_since"], fired_at=alert["fired_at"],
                        resolved_at=now, labels=alert["labels"],
                        annotations=alert["annotations"], severity=alert["severity"],
                        category="config", source="config", fingerprint=fp,
                    ))  # fmt: skip
            for c in out:
                c.fired_at = min(c.fired_at or now, now)
                if c.active_since > now:
                    c.active_since = now
            if out:
                self.alerts.publish(changes_table(out))
            return len(out)

    def _ended(self, fingerprint: str, active_since: datetime) -> bool:
        rows = query_dicts(
            self.store,
            "SELECT 1 AS x FROM alerts WHERE fingerprint = ? AND active_since = ?",
            [fingerprint, active_since],
        )
        return bool(rows)

    def _firing(self) -> dict[str, dict[str, Any]]:
        rows = query_dicts(
            self.store,
            "SELECT fingerprint, rule, active_since, fired_at, labels, annotations, severity "
            "FROM alerts WHERE source = 'config' AND state = 'firing' AND rule IN (?, ?)",
            list(_ALERT_RULES),
        )
        return {r["fingerprint"]: r for r in rows}

    # -- the audit trail -------------------------------------------------------------
    def audit(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        item: str | None = None,
        env: str | None = None,
        kinds: tuple[str, ...] | None = None,
        before: tuple[datetime, int] | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """The config audit trail, newest first: tracked, changed and approved, with diffs.

        ``before`` = (ts, id) of the last row of the previous page.
        """
        where, params = [], []
        for column, op, value in (("ts", ">=", since), ("ts", "<", until), ("item", "=", item),
                                  ("env", "=", env)):  # fmt: skip
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(value)
        if before is not None:
            where.append("(ts < ? OR (ts = ? AND id < ?))")
            params.extend([before[0], before[0], before[1]])
        if kinds:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            params.extend(kinds)
        sql = "SELECT * FROM config_changes"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = query_dicts(self.store, sql + " ORDER BY ts DESC, id DESC LIMIT ?", [*params, limit])
        for r in rows:
            r["key_changes"] = json.loads(r["key_changes"]) if r["key_changes"] else []
        return rows

    def changes_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Configuration changes in [start, end], oldest first (the post-incident review)."""
        # Inclusive end: the change that caused the alert has the incident's own timestamp.
        rows = self.audit(since=start, until=end + timedelta(microseconds=1), kinds=("changed",))
        return list(reversed(rows))


def _keys_of(f: dict[str, Any] | None) -> dict[str, str] | None:
    if f is None:
        return None
    if f["keys"] is not None:
        return f["keys"]
    # Unparsed, binary or unreadable: the file compares as one value.
    return {"(content)": json.dumps(f["hash"] or f["error"])}


def _item_keys(files: list[dict[str, Any]]) -> dict[str, str]:
    """An item's keys for comparing environments: files are matched by base name."""
    if len(files) == 1:
        return _keys_of(files[0]) or {}
    out: dict[str, str] = {}
    for f in files:
        base = f["path"].rsplit("/", 1)[-1]
        for k, v in (_keys_of(f) or {}).items():
            out[f"{base}:{k}"] = v
    return out


def _file_diff(
    path: str, a: int, b: int, fa: dict[str, Any] | None, fb: dict[str, Any] | None
) -> list[str]:
    out: list[str] = []
    if fa and fb:
        for what in ("mode", "owner", "error"):
            if fa[what] != fb[what]:
                out.append(f"# {path}: {what} {fa[what]} → {fb[what]}\n")
        if fa["hash"] == fb["hash"]:
            return out
    if (fa and fa["is_binary"]) or (fb and fb["is_binary"]):
        ha = fa["hash"] if fa else None
        hb = fb["hash"] if fb else None
        return [*out, f"Binary file {path} differs (sha256 {ha} → {hb})\n"]
    old = (fa["content"] or "") if fa else ""
    new = (fb["content"] or "") if fb else ""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True),
        fromfile=f"{path}@v{a}" if fa else "/dev/null",
        tofile=f"{path}@v{b}" if fb else "/dev/null",
    )  # fmt: skip
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return out
